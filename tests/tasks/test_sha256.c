/* tests/tasks/test_sha256.c - runtime/util/sha256.c against FIPS 180-4 vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taas/sha256.h"

static void test_vectors(void **state)
{
    (void)state;
    char hex[65];
    taas_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    taas_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    taas_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a_in_pieces(void **state)
{
    (void)state;
    /* Uneven pieces cross every block boundary case. */
    char piece[997];
    memset(piece, 'a', sizeof piece);
    taas_sha256_ctx c;
    taas_sha256_init(&c);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof piece ? left : sizeof piece;
        taas_sha256_update(&c, piece, n);
        left -= n;
    }
    unsigned char d[32];
    taas_sha256_final(&c, d);
    static const unsigned char want[32] = {
        0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7, 0xe2, 0x84, 0xd7, 0x3e, 0x67,
        0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97, 0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    assert_memory_equal(d, want, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a_in_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
