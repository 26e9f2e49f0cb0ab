//! Fuzzes the diff engine's elf format: two related inputs shaped as elf, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Elf, data);
});
