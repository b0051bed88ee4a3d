//! Prints the folder of Conpot's templates (fetching them once if need be), for the Python
//! interop tests, so they find the templates the same way the Rust tests do.

fn main() {
    println!("{}", conpot_testkit::conpot_templates().display());
}
