//! Fuzzes the diff engine's ar format: two related inputs shaped as ar, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Ar, data);
});
