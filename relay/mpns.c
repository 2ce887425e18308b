#include "pushrelay/error.h"
#include "pclient_impl.h"
int mpns_client_new(struct pclient *pc) { (void)pc; return PR_ECONFIG; }
