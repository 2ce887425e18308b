/* fed_listener.c - placeholder until the listener lands. */
#include "pushrelay/error.h"
int fed_placeholder(void);
int fed_placeholder(void) { return PR_OK; }
