//! torch-sys links libtorch but puts no rpath on the final binary. As a direct
//! dependant of torch-sys (`links = "tch"`) this script receives the libtorch
//! library directory and records it as an rpath of the trainer binary only:
//! the monitor (`trainwatt`) and the library never link libtorch. It also
//! passes libtorch's version (its `build-version` file) to `trainwatt-train --probe`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg-bin=trainwatt-train=-Wl,-rpath,{dir}");
        let version = std::path::Path::new(&dir).join("../build-version");
        if let Ok(v) = std::fs::read_to_string(&version) {
            println!("cargo:rerun-if-changed={}", version.display());
            println!("cargo:rustc-env=TRAINWATT_LIBTORCH_VERSION={}", v.trim());
        }
    }
}
