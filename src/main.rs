fn main() -> std::process::ExitCode {
    wtmux::cli::main()
}
