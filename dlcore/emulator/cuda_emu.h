// cuda_emu.h -- run unmodified CUDA C kernels (kernels/*.cu) on the CPU, for logic tests.
//
// dlcore/emulator/build.py compiles `g++ -std=c++17 -include cuda_emu.h kernel.cu`. Every CUDA
// thread of a block is a fiber; one OS thread runs one block at a time. A fiber runs until it
// reaches a synchronisation point (__syncthreads, __syncwarp, __shfl_*_sync) and then yields to
// the scheduler (runtime.inc), which picks the next runnable fiber by a policy: round robin,
// lowest first, highest first or seeded random. A result that changes between policies exposes
// a missing barrier.
//
// Strict checks (launch errors naming the kernel): a __syncthreads not reached by every thread
// of the block, a shuffle whose mask names lanes that do not exist (a partial warp under a full
// mask), lanes that disagree on the mask, deadlock.
//
// __shared__ variables live in the linker section "emu_shared"; the runtime fills that section
// with 0xff bytes (NaN for floats, -1 for ints) before every block, so a kernel that reads
// shared memory before writing it, or relies on a previous block's data, sees garbage.
#pragma once
#include <math.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#include <ucontext.h>
#include <xmmintrin.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

// ------------------------------------------------------------------ CUDA vocabulary
struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int a = 1, unsigned int b = 1, unsigned int c = 1) : x(a), y(b), z(c) {}
};
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) double2 { double x, y; };
struct alignas(16) int4 { int x, y, z, w; };

#ifdef EMU_MARK_GLOBALS
#define __global__ EMU_GLOBAL_MARK
#else
#define __global__
#endif
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static __attribute__((section("emu_shared"), aligned(16)))
#define warpSize 32

extern "C" char __start_emu_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_emu_shared[] __attribute__((weak, visibility("hidden")));

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
inline long long __double_as_longlong(double d) { long long i; std::memcpy(&i, &d, 8); return i; }
template <class T> inline T __ldg(const T* p) { return *p; }
inline float __fdividef(float a, float b) { return a / b; }
inline float __expf(float v) { return expf(v); }
inline float __logf(float v) { return logf(v); }
inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }
inline double rsqrt(double v) { return 1.0 / sqrt(v); }

namespace emu {

enum Wait : int { RUNNABLE = 0, AT_WARP = 1, AT_BLOCK = 2, DONE = 3 };

struct Fiber {
    ucontext_t ctx;
    void* sp = nullptr;           // saved stack pointer (fast switch)
    uint3 tid;
    unsigned linear = 0;
    int wait = RUNNABLE;
    void* fake_stack = nullptr;   // ASan fiber bookkeeping
    char* stack = nullptr;
};

struct Warp {
    unsigned exists = 0;      // lanes that exist (a partial last warp has fewer)
    unsigned arrived = 0;     // lanes waiting at the current warp barrier
    unsigned mask = 0;        // the mask they gave
    unsigned gen = 0;         // barrier generation: shuffle slots are double-buffered by it
    alignas(16) unsigned char slot[2][32][16];
};

struct Block {
    uint3 grid_dim, block_dim, block_idx;
    std::vector<Fiber> fibers;
    std::vector<Warp> warps;
    unsigned block_arrived = 0;
    unsigned done = 0;
    uint64_t runbits[16] = {};  // bit i: fiber i is runnable
    std::string error;
    ucontext_t main_ctx;
    void* main_sp = nullptr;
    void* main_fake = nullptr;
    const void* main_bottom = nullptr;
    size_t main_size = 0;
    void (*tramp)(void**) = nullptr;
    void** params = nullptr;
    size_t stack_size = 0;
};

inline thread_local Block* g_blk = nullptr;
inline thread_local Fiber* g_cur = nullptr;

inline void set_state(Fiber& f, int st) {
    f.wait = st;
    uint64_t& w = g_blk->runbits[f.linear >> 6];
    const uint64_t bit = 1ull << (f.linear & 63);
    if (st == RUNNABLE) w |= bit; else w &= ~bit;
}

// ---- context switch: a few instructions on x86-64 (no signal-mask syscall), ucontext elsewhere
#if defined(__x86_64__) && !defined(EMU_USE_UCONTEXT)
extern "C" void emu_switch(void** save_sp, void* new_sp);
__asm__(".text\n.globl emu_switch\n.hidden emu_switch\n.type emu_switch,@function\nemu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n  ret\n"
        ".size emu_switch,.-emu_switch\n");
#define EMU_FAST_SWITCH 1
#else
#define EMU_FAST_SWITCH 0
#endif

inline void fail(const std::string& msg) {
    if (g_blk->error.empty()) g_blk->error = msg;
}

inline std::string where(const Fiber* f) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "block (%u,%u,%u) thread (%u,%u,%u)", g_blk->block_idx.x,
                  g_blk->block_idx.y, g_blk->block_idx.z, f->tid.x, f->tid.y, f->tid.z);
    return buf;
}

// fiber -> scheduler
inline void yield_to_scheduler(bool finishing = false) {
    Fiber* me = g_cur;
#if EMU_ASAN
    __sanitizer_start_switch_fiber(finishing ? nullptr : &me->fake_stack, g_blk->main_bottom, g_blk->main_size);
#endif
#if EMU_FAST_SWITCH
    emu_switch(&me->sp, g_blk->main_sp);
#else
    swapcontext(&me->ctx, &g_blk->main_ctx);
#endif
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(me->fake_stack, nullptr, nullptr);
#endif
    (void)finishing;
}

inline void fiber_entry() {
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g_blk->main_bottom, &g_blk->main_size);
#endif
    g_blk->tramp(g_blk->params);
    set_state(*g_cur, DONE);
    g_blk->done++;
    yield_to_scheduler(true);
    std::abort();  // never resumed
}

inline unsigned lane_of(const Fiber* f) { return f->linear & 31u; }
inline Warp& warp_of(const Fiber* f) { return g_blk->warps[f->linear >> 5]; }

// All lanes of `mask` meet here. Returns the barrier generation (for the shuffle slots).
inline unsigned warp_barrier(unsigned mask, const char* what) {
    Fiber* me = g_cur;
    Warp& w = warp_of(me);
    const unsigned bit = 1u << lane_of(me);
    if (!(mask & bit)) fail(std::string(what) + ": calling lane not in mask at " + where(me));
    if (mask & ~w.exists) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "%s: mask 0x%08x names lanes that do not exist (warp has 0x%08x: a partial "
                      "warp, blockDim not a multiple of 32?) at ", what, mask, w.exists);
        fail(buf + where(me));
    }
    if (w.arrived == 0) w.mask = mask;
    else if (w.mask != mask) fail(std::string(what) + ": lanes of one warp disagree on the mask at " + where(me));
    const unsigned gen = w.gen;
    w.arrived |= bit;
    set_state(*me, AT_WARP);
    if ((w.arrived & w.mask) == w.mask) {  // complete: release every lane of the mask
        const unsigned base = me->linear & ~31u;
        for (unsigned l = 0; l < 32; ++l)
            if (w.mask & (1u << l) & w.exists) set_state(g_blk->fibers[base + l], RUNNABLE);
        w.arrived = 0;
        w.gen++;
    }
    yield_to_scheduler();
    return gen;
}

enum ShflMode : int { XOR = 0, IDX = 1, UP = 2, DOWN = 3 };

template <class T>
inline T shfl_common(unsigned mask, T v, unsigned arg, int mode, int width) {
    static_assert(sizeof(T) <= 16, "shuffle of a type wider than 16 bytes");
    Fiber* me = g_cur;
    Warp& w = warp_of(me);
    const unsigned lane = lane_of(me);
    if (width <= 0 || width > 32 || (width & (width - 1))) {
        fail("__shfl_*_sync: width must be a power of two <= 32 at " + where(me));
        return v;
    }
    const unsigned slot = w.gen & 1u;
    std::memcpy(w.slot[slot][lane], &v, sizeof(T));
    warp_barrier(mask, "__shfl_*_sync");
    const unsigned seg = lane & ~(unsigned)(width - 1);
    unsigned src;
    bool keep = false;  // source outside the segment: the lane keeps its own value
    if (mode == XOR) { src = lane ^ arg; keep = (src & ~(unsigned)(width - 1)) != seg; }
    else if (mode == IDX) src = seg + (arg & (width - 1));
    else if (mode == UP) { src = lane - arg; keep = (int)(lane - seg) < (int)arg; }
    else { src = lane + arg; keep = (lane - seg) + arg >= (unsigned)width; }
    if (keep) return v;
    if (src >= 32 || !(w.mask & (1u << src))) {
        fail("__shfl_*_sync reads lane " + std::to_string(src) + " outside the mask at " + where(me));
        return v;
    }
    T r;
    std::memcpy(&r, w.slot[slot][src], sizeof(T));
    return r;
}

using Tramp = void (*)(void**);

struct Entry {
    Tramp tramp;
    std::string sig;  // comma-separated parameter codes, e.g. "cptr:f32,ptr:f32,i64,i32,i32"
};
inline std::map<std::string, Entry>& registry() {
    static std::map<std::string, Entry> r;
    return r;
}

// parameter type codes
template <class T> struct Code { static std::string get() { return "?" + std::to_string(sizeof(T)); } };
template <> struct Code<float> { static std::string get() { return "f32"; } };
template <> struct Code<double> { static std::string get() { return "f64"; } };
template <> struct Code<int> { static std::string get() { return "i32"; } };
template <> struct Code<unsigned> { static std::string get() { return "u32"; } };
template <> struct Code<long long> { static std::string get() { return "i64"; } };
template <> struct Code<unsigned long long> { static std::string get() { return "u64"; } };
template <> struct Code<unsigned char> { static std::string get() { return "u8"; } };
template <> struct Code<bool> { static std::string get() { return "b8"; } };
template <> struct Code<float4> { static std::string get() { return "f32x4"; } };
template <> struct Code<float2> { static std::string get() { return "f32x2"; } };
template <> struct Code<double2> { static std::string get() { return "f64x2"; } };
template <> struct Code<int4> { static std::string get() { return "i32x4"; } };
template <class T> struct Code<T*> {
    static std::string get() { return std::string(std::is_const<T>::value ? "cptr:" : "ptr:") + Code<std::remove_cv_t<T>>::get(); }
};

template <class... A, size_t... I>
inline void call_with(void (*k)(A...), void** p, std::index_sequence<I...>) {
    k(*static_cast<std::remove_reference_t<A>*>(p[I])...);
}

template <auto K> struct Reg;
template <class... A, void (*K)(A...)> struct Reg<K> {
    static void tramp(void** p) { call_with(K, p, std::index_sequence_for<A...>{}); }
    static std::string sig() {
        std::string s;
        ((s += (s.empty() ? "" : ",") + Code<A>::get()), ...);
        return s;
    }
};

}  // namespace emu

#define threadIdx (::emu::g_cur->tid)
#define blockIdx (::emu::g_blk->block_idx)
#define blockDim (::emu::g_blk->block_dim)
#define gridDim (::emu::g_blk->grid_dim)

inline void __syncthreads() {
    using namespace emu;
    Fiber* me = g_cur;
    set_state(*me, AT_BLOCK);
    const unsigned n = (unsigned)g_blk->fibers.size();
    if (++g_blk->block_arrived == n) {
        for (auto& f : g_blk->fibers) if (f.wait == AT_BLOCK) set_state(f, RUNNABLE);
        g_blk->block_arrived = 0;
    }
    yield_to_scheduler();
}
inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::warp_barrier(mask, "__syncwarp"); }

template <class T> inline T __shfl_xor_sync(unsigned m, T v, int x, int w = 32) { return emu::shfl_common(m, v, (unsigned)x, emu::XOR, w); }
template <class T> inline T __shfl_sync(unsigned m, T v, int s, int w = 32) { return emu::shfl_common(m, v, (unsigned)s, emu::IDX, w); }
template <class T> inline T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) { return emu::shfl_common(m, v, d, emu::UP, w); }
template <class T> inline T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) { return emu::shfl_common(m, v, d, emu::DOWN, w); }

// The generated translation unit puts one line per entry point after the kernel source.
#define EMU_REGISTER(name)                                                                  \
    static const bool emu_reg_##name = [] {                                                 \
        ::emu::registry()[#name] = {&::emu::Reg<&name>::tramp, ::emu::Reg<&name>::sig()};   \
        return true;                                                                        \
    }();
