//! Any bytes as one request frame (without its length prefix): the guard
//! and the decoder may refuse them, but must never panic, and no input may
//! make them allocate more than the frame can back (run with
//! `-malloc_limit_mb`, see README.md).

#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_broker::frame::decode_request;

fuzz_target!(|data: &[u8]| {
    let _ = decode_request(bytes::Bytes::copy_from_slice(data));
});
