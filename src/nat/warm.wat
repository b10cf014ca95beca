;; The batch warm-up's memory loads (batch.ts), for connection tables that
;; live in WebAssembly memory (table.ts). `npm run build:wasm` assembles this
;; file into warm-wasm.ts; test/nat/warm-kernel.test.ts checks the two agree.
;;
;; Why WebAssembly: at a million sessions these loads miss the caches and the
;; TLB, and the misses of a batch only overlap as far as the CPU's reorder
;; window reaches. The same loops in JavaScript carry bounds and type checks
;; per load and keep about half as many misses in flight (docs/performance.md).
;;
;; warm(n, hashes, dirs, slots, idx, indexSize, rec) -> sum
;;   hashes  n × i32   the lookup hash of each packet
;;   dirs    n × u8    0: inside index (idxIn), 1: outside index (idxOut)
;;   slots   n × u32   out: the slot each lookup compares first (the home
;;                     slot addresses until pass 2 replaces them)
;;   idx     idxIn, with idxOut right after it (indexSize × u32 each)
;;   rec     the session records, 64 bytes each, 64-byte aligned
;; Pass 0 writes each packet's home slot address into slots, so that the
;; loops holding the misses are a few instructions each: a load retires
;; only when its line arrives, so the reorder buffer limits how many
;; misses can be in flight, and fewer instructions per miss leave room for
;; more of them (measured: 5-10 ns per packet less at a million sessions
;; than with the address arithmetic inside the loop). Pass 1 loads each
;; home slot, without branches, so every miss is in flight at once.
;; Pass 2 walks each probe sequence from there to its first slot whose
;; 8-bit tag matches (or the empty slot ending it), as
;; ConnTable.findInsideHashed would, and leaves that slot in slots; its
;; data-dependent branches now mispredict on cached lines, not on misses.
;; Pass 3 loads the record that slot names (record 0 for an empty slot,
;; harmless). The sum only keeps the loads alive.
(module
  (import "env" "memory" (memory 1))
  (func (export "warm")
    (param $n i32) (param $hashes i32) (param $dirs i32) (param $slots i32)
    (param $idx i32) (param $indexSize i32) (param $rec i32) (result i32)
    (local $i i32) (local $p i32) (local $hp i32) (local $end i32) (local $a i32) (local $s i32) (local $tag i32)
    (local $mask i32) (local $bytes i32) (local $sum i32)
    (local.set $mask (i32.sub (local.get $indexSize) (i32.const 1)))
    (local.set $bytes (i32.shl (local.get $indexSize) (i32.const 2)))
    (local.set $end (i32.add (local.get $slots) (i32.shl (local.get $n) (i32.const 2))))
    ;; Pass 0: home slot addresses (idx or idx + indexSize × 4, plus 4 × (hash & mask)).
    (block $d0 (loop $l0
      (br_if $d0 (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2)))
        (i32.add
          (i32.add (local.get $idx) (i32.mul (i32.load8_u (i32.add (local.get $dirs) (local.get $i))) (local.get $bytes)))
          (i32.shl (i32.and (i32.load (i32.add (local.get $hashes) (i32.shl (local.get $i) (i32.const 2)))) (local.get $mask)) (i32.const 2))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l0)))
    ;; Pass 1: the home slots.
    (local.set $p (local.get $slots))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $sum (i32.xor (local.get $sum) (i32.load (i32.load (local.get $p)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l1)))
    ;; Pass 2: each probe, from its home address to the tag's slot; the
    ;; address wraps at the end of idxIn or idxOut.
    (local.set $p (local.get $slots))
    (local.set $hp (local.get $hashes))
    (block $d2 (loop $l2
      (br_if $d2 (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $a (i32.load (local.get $p)))
      (local.set $tag (i32.shr_u (i32.load (local.get $hp)) (i32.const 24)))
      (block $found (loop $probe
        (local.set $s (i32.load (local.get $a)))
        (br_if $found (i32.eqz (local.get $s)))
        (br_if $found (i32.eq (i32.shr_u (local.get $s) (i32.const 24)) (local.get $tag)))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (if (i32.eqz (i32.and (i32.sub (local.get $a) (local.get $idx)) (i32.sub (local.get $bytes) (i32.const 1))))
          (then (local.set $a (i32.sub (local.get $a) (local.get $bytes)))))
        (br $probe)))
      (i32.store (local.get $p) (local.get $s))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (local.set $hp (i32.add (local.get $hp) (i32.const 4)))
      (br $l2)))
    ;; Pass 3: the records.
    (local.set $p (local.get $slots))
    (block $d3 (loop $l3
      (br_if $d3 (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $sum (i32.xor (local.get $sum)
        (i32.load (i32.add (local.get $rec) (i32.shl (i32.and (i32.load (local.get $p)) (i32.const 0xffffff)) (i32.const 6))))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $l3)))
    (local.get $sum)))
