//! torch-sys links libtorch but puts no rpath on the final binary. As a direct
//! dependant of torch-sys (`links = "tch"`) this script receives the libtorch
//! library directory and records it as an rpath, so binaries and test
//! binaries run without LD_LIBRARY_PATH.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
