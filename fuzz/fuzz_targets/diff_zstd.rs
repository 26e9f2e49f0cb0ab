//! Fuzzes the diff engine's zstd format: two related inputs shaped as zstd, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Zstd, data);
});
