//! `cargo xtask` works on the checkout it runs in, whatever checkout it was built from: run from a
//! copy whose spec is broken, `lint` finds the breakage there and names that copy as its root.

use std::path::Path;
use std::process::Command;

#[test]
fn lint_reads_the_checkout_it_runs_in() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let copy = std::env::temp_dir().join(format!("xtask-copy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(copy.join("spec")).unwrap();
    std::fs::create_dir_all(copy.join("xtask")).unwrap();
    std::fs::write(copy.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    for spec in ["aioz-stream.yaml", "storm.yaml", "emulator.yaml"] {
        let text = std::fs::read_to_string(source.join("spec").join(spec)).unwrap();
        let text =
            text.replace("operationId: get_live_stream_key", "operationId: getLiveStreamKey");
        std::fs::write(copy.join("spec").join(spec), text).unwrap();
    }
    let nested = copy.join("spec");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("lint")
        .current_dir(&nested)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the broken copy passed lint:\n{stderr}");
    assert!(stderr.contains(&format!("xtask: project root {}", copy.display())), "{stderr}");
    assert!(stderr.contains("operationId `getLiveStreamKey` is not snake_case"), "{stderr}");
    std::fs::remove_dir_all(&copy).unwrap();
}
