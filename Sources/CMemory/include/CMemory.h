#ifndef REDIS_HEALTHD_CMEMORY_H
#define REDIS_HEALTHD_CMEMORY_H

/// glibc's malloc tuning and the executable's own pages: what Swift's Glibc module does not import
/// (<malloc.h>, <link.h>). Linking this also limits glibc's malloc to one arena before main, unless
/// $MALLOC_ARENA_MAX is set (see CMemory.c).

/// malloc_trim(0): the pages freed inside the heap go back to the system. 0, or -1 without glibc.
int cmemory_trim_heap(void);

/// madvise(MADV_PAGEOUT) over the executable's read-only segments (code and constants): the pages touched once at
/// start-up leave the resident set; pages still in use are faulted back in when next used. Returns the bytes advised.
long cmemory_page_out_executable_text(void);

#endif
