#define _GNU_SOURCE
#include "CMemory.h"

#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

/// Before main, before any thread exists (a thread that has allocated keeps the arena it got): glibc gives threads
/// arenas of their own, up to eight per core, and a Swift task that resumes on another thread frees into an arena
/// other than the one it allocated from, each arena keeping what was freed in it. One arena holds the daemon's
/// work: its few threads (the event loops, the task pool) mostly wait. With 1,000 targets: 60.5-60.8 MB where two
/// arenas held 63.1-64.8 MB and glibc's default 95 MB, at the same CPU. MALLOC_ARENA_MAX, when set, wins.
__attribute__((constructor)) static void cmemory_one_malloc_arena(void) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    if (getenv("MALLOC_ARENA_MAX") == NULL) mallopt(M_ARENA_MAX, 1);
#endif
}

int cmemory_trim_heap(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
    return 0;
#else
    return -1;
#endif
}

static int page_out_first_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    long *advised = data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || (segment->p_flags & PF_W)) continue;
        uintptr_t start = (info->dlpi_addr + segment->p_vaddr) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + segment->p_vaddr + segment->p_memsz + page - 1) & ~(page - 1);
        if (madvise((void *)start, end - start, MADV_PAGEOUT) == 0) *advised += (long)(end - start);
    }
    return 1; // the first object is the executable itself: stop there
}

long cmemory_page_out_executable_text(void) {
    long advised = 0;
    dl_iterate_phdr(page_out_first_object, &advised);
    return advised;
}
