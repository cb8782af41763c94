/*
 * A QEMU TCG plugin for the rig (QEMU 7.2's plugin API, version 1, declared here: Debian ships no qemu-plugin.h):
 * counts the executions of each translated block, keyed by its start address and instruction count, and writes
 * "pc instructions executions" for every block run 1,000 times or more when QEMU exits. Under icount this says
 * where a benchmark's instructions go; tbsym.py sums them per method or library. See docs/rig.md.
 *   gcc -O2 -shared -fPIC -o tbcount.so tests/rig/profile/tbcount.c
 *   RIG_PLUGIN=$PWD/tbcount.so,arg=out=/tmp/tb.txt RIG_ICOUNT=0 tests/rig/rig.sh run a OUT -- sh script
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stddef.h>
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
typedef void (*udata_cb)(qemu_plugin_id_t id, void *userdata);
typedef void (*tb_trans_cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb cb, void *userdata);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

typedef struct { uint64_t pc; uint64_t n; uint64_t count; } Rec;
#define SIZE (1u << 22)
static Rec *table;
static char outpath[512] = "/tmp/tbcount.txt";

static Rec *lookup(uint64_t pc, uint64_t n)
{
    uint64_t h = (pc * 0x9E3779B97F4A7C15ull) ^ n;
    for (uint32_t i = (uint32_t)(h >> 40) & (SIZE - 1);; i = (i + 1) & (SIZE - 1)) {
        if (table[i].pc == pc && table[i].n == n) return &table[i];
        if (table[i].pc == 0 && table[i].n == 0) { table[i].pc = pc; table[i].n = n; return &table[i]; }
    }
}

static void trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    Rec *r = lookup(qemu_plugin_tb_vaddr(tb), qemu_plugin_tb_n_insns(tb));
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id, (void)p;
    FILE *f = fopen(outpath, "w");
    if (!f) { perror(outpath); return; }
    for (uint32_t i = 0; i < SIZE; i++)
        if (table[i].count >= 1000) fprintf(f, "%016llx %llu %llu\n", (unsigned long long)table[i].pc, (unsigned long long)table[i].n, (unsigned long long)table[i].count);
    fclose(f);
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) if (strncmp(argv[i], "out=", 4) == 0) snprintf(outpath, sizeof outpath, "%s", argv[i] + 4);
    table = calloc(SIZE, sizeof(Rec));
    if (!table) return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
