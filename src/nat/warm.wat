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
;;   slots   n × u32   out: the slot each lookup compares first
;;   idx     idxIn, with idxOut right after it (indexSize × u32 each)
;;   rec     the session records, 64 bytes each, 64-byte aligned
;; Pass 1 loads each packet's home slot, without branches, so every miss
;; is in flight at once. Pass 2 walks each probe sequence from there to its
;; first slot whose 8-bit tag matches (or the empty slot ending it), as
;; ConnTable.findInsideHashed would; its data-dependent branches now
;; mispredict on cached lines, not on misses. Pass 3 loads the record that
;; slot names (record 0 for an empty slot, harmless). The sum only keeps the
;; loads alive.
(module
  (import "env" "memory" (memory 1))
  (func (export "warm")
    (param $n i32) (param $hashes i32) (param $dirs i32) (param $slots i32)
    (param $idx i32) (param $indexSize i32) (param $rec i32) (result i32)
    (local $i i32) (local $h i32) (local $tag i32) (local $mask i32)
    (local $base i32) (local $j i32) (local $s i32) (local $sum i32)
    (local.set $mask (i32.sub (local.get $indexSize) (i32.const 1)))
    (block $homed
      (loop $home
        (br_if $homed (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $h (i32.load (i32.add (local.get $hashes) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $base (i32.add (local.get $idx)
          (i32.mul (i32.load8_u (i32.add (local.get $dirs) (local.get $i)))
                   (i32.shl (local.get $indexSize) (i32.const 2)))))
        (local.set $sum (i32.xor (local.get $sum)
          (i32.load (i32.add (local.get $base) (i32.shl (i32.and (local.get $h) (local.get $mask)) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $home)))
    (local.set $i (i32.const 0))
    (block $probed
      (loop $packet
        (br_if $probed (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $h (i32.load (i32.add (local.get $hashes) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $tag (i32.shr_u (local.get $h) (i32.const 24)))
        (local.set $base (i32.add (local.get $idx)
          (i32.mul (i32.load8_u (i32.add (local.get $dirs) (local.get $i)))
                   (i32.shl (local.get $indexSize) (i32.const 2)))))
        (local.set $j (i32.and (local.get $h) (local.get $mask)))
        (block $found
          (loop $probe
            (local.set $s (i32.load (i32.add (local.get $base) (i32.shl (local.get $j) (i32.const 2)))))
            (br_if $found (i32.eqz (local.get $s)))
            (br_if $found (i32.eq (i32.shr_u (local.get $s) (i32.const 24)) (local.get $tag)))
            (local.set $j (i32.and (i32.add (local.get $j) (i32.const 1)) (local.get $mask)))
            (br $probe)))
        (i32.store (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $packet)))
    (local.set $i (i32.const 0))
    (block $touched
      (loop $record
        (br_if $touched (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $sum (i32.xor (local.get $sum)
          (i32.load (i32.add (local.get $rec)
            (i32.shl (i32.and (i32.load (i32.add (local.get $slots) (i32.shl (local.get $i) (i32.const 2))))
                              (i32.const 0xffffff))
                     (i32.const 6))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $record)))
    (local.get $sum)))
