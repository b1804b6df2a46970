/* Per-op aarch64 instruction split for Paddle Lite v2.13-rc's light API under qemu-user (plugin API v1),
 * used by benchmarks/arm_op_split.py. Counts every executed guest instruction (inline, per translation
 * block) and snapshots the count each time RuntimeProgram::Run's loop head runs: `cmp x20, x19`
 * (0xeb13029f) then `b.ne` (0x54000081) at the page offset given in PPL_LOOP_PAGE_OFFSET (the script
 * finds it in the library) -- one hit per op of the program, one more when the loop ends. Prints
 * "guest_instructions: N" and "op_marks: m1 m2 ..." on stderr at exit.
 * Build: gcc -O2 -shared -fPIC -o arm_op_split.so arm_op_split.c */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t instructions;
static uint64_t page_offset;
static uint64_t *marks;
static size_t n_marks, capacity;

static void on_mark(unsigned int vcpu, void *userdata) {
    (void)vcpu; (void)userdata;
    if (n_marks == capacity) {
        capacity = capacity ? 2 * capacity : 4096;
        marks = realloc(marks, capacity * sizeof *marks);
    }
    marks[n_marks++] = instructions;
}

static uint32_t word(const struct qemu_plugin_insn *insn) {
    uint32_t w;
    memcpy(&w, qemu_plugin_insn_data(insn), 4);
    return w;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &instructions, n);
    for (size_t i = 0; i + 1 < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if ((qemu_plugin_insn_vaddr(insn) & 0xfff) == page_offset && word(insn) == 0xeb13029fu &&
            word(qemu_plugin_tb_get_insn(tb, i + 1)) == 0x54000081u)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

static void at_exit(qemu_plugin_id_t id, void *userdata) {
    (void)id; (void)userdata;
    fprintf(stderr, "guest_instructions: %" PRIu64 "\nop_marks:", instructions);
    for (size_t i = 0; i < n_marks; i++) fprintf(stderr, " %" PRIu64, marks[i]);
    fprintf(stderr, "\n");
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    (void)info; (void)argc; (void)argv;
    const char *offset = getenv("PPL_LOOP_PAGE_OFFSET");
    if (!offset) {
        fprintf(stderr, "arm_op_split: set PPL_LOOP_PAGE_OFFSET\n");
        return 1;
    }
    page_offset = strtoull(offset, NULL, 0) & 0xfff;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
