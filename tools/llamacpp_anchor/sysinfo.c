#include "llama.h"
#include <stdio.h>
int main(void){ printf("%s\n", llama_print_system_info()); return 0; }
