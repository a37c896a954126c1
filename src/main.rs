use std::process::ExitCode;

fn main() -> ExitCode {
    local_executor_mcp::cli::main()
}
