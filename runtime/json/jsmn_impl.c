/*
 * runtime/json/jsmn_impl.c - the one translation unit that compiles jsmn.
 *
 * jsmn is header-only. json.h includes it with JSMN_HEADER (declarations
 * only); this file includes it without, so the implementation is linked
 * exactly once. JSMN_STRICT and JSMN_PARENT_LINKS come from the top-level
 * build and must match everywhere, since they change jsmntok_t's layout.
 */
#if !defined(JSMN_STRICT) || !defined(JSMN_PARENT_LINKS)
#error "build with -DJSMN_STRICT -DJSMN_PARENT_LINKS (the top-level CMakeLists sets both)"
#endif

#include <jsmn.h>
