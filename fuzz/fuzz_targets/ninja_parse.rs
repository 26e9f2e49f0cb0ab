//! Fuzzes the Ninja parser (`build.ninja`, depfiles) and the import after it.
#![no_main]

#[path = "ninja_input.rs"]
mod ninja_input;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ninja_input::exercise(data);
});
