#include "ctl.h"
int ctl_tokens(struct ctl *c, int a, char **v){(void)c;(void)a;(void)v;return 0;}
int ctl_dlq(struct ctl *c, int a, char **v){(void)c;(void)a;(void)v;return 0;}
