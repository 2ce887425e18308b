/* pushrelayctl - placeholder main until the admin CLI lands. */
int main(void) { return 0; }
