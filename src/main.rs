fn main() {
    std::process::exit(wtmux::cli::main());
}
