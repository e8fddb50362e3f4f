//! Writes valid request frames for every API version Weir serves into the
//! directory given as the first argument, generated from the guard's own
//! descriptions (the generator the `guard_*` tests use), so the fuzzer
//! starts from requests that get past the guard and into the decoder.

#[path = "../../../crates/weir-broker/tests/guard_common/mod.rs"]
mod guard_common;

use guard_common::{frame, generate, supported, SplitMix};
use std::path::PathBuf;
use weir_broker::guard::schema;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or("corpus/decode_request".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let mut written = 0;
    for (api, version) in supported() {
        let Some(message) = schema::request(api) else {
            continue;
        };
        for seed in 0..4 {
            let body = generate(message, version, &mut SplitMix::new(seed));
            let name = format!("{api:?}-v{version}-{seed}");
            std::fs::write(dir.join(name), frame(api, version, 1, &body))?;
            written += 1;
        }
    }
    println!("wrote {written} frames to {}", dir.display());
    Ok(())
}
