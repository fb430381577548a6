#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eid_fuzz::catalogue(data));
