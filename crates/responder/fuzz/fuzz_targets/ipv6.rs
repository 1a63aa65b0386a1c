#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| responder::fuzzing6::ipv6_target(data));
