//! Fuzzes the diff engine's json format: two related inputs shaped as json, compared in memory.
#![no_main]

#[path = "shape.rs"]
mod shape;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    shape::diff(shape::Kind::Json, data);
});
