//! Fuzzes the diff engine's tar format: two related inputs shaped as tar, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Tar, data);
});
