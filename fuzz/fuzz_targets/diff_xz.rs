//! Fuzzes the diff engine's xz format: two related inputs shaped as xz, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Xz, data);
});
