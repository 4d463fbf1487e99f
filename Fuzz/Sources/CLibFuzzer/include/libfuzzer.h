#ifndef REDIS_HEALTHD_LIBFUZZER_H
#define REDIS_HEALTHD_LIBFUZZER_H
#include <stddef.h>
#include <stdint.h>
// libFuzzer's driver, for executables that bring their own main (SwiftPM renames an executable's main).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
