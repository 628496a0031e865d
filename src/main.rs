//! The `meritline` command: `meritline run [--config FILE]` runs the switch (embedded defaults
//! without a file); `meritline check-config [--config FILE]` validates a config and exits.
//! Configuration and start-up errors print one clear line and exit with code 2.

use std::path::PathBuf;
use std::process::ExitCode;

use meritline::config::Config;

const USAGE: &str = "usage:
  meritline run [--config FILE]           run the switch (embedded defaults without --config)
  meritline check-config [--config FILE]  validate a config file and exit
  meritline --version";

enum Command {
    Run(Option<PathBuf>),
    CheckConfig(Option<PathBuf>),
    Version,
    Help,
}

fn parse_args(args: &[String]) -> Result<Command, String> {
    let Some(cmd) = args.first() else {
        return Ok(Command::Help);
    };
    let config_arg = |rest: &[String]| -> Result<Option<PathBuf>, String> {
        match rest {
            [] => Ok(None),
            [flag, path] if flag == "--config" || flag == "-c" => Ok(Some(PathBuf::from(path))),
            [flag] if flag == "--config" || flag == "-c" => Err(format!("{flag} needs a file")),
            other => Err(format!("unexpected argument {:?}", other[0])),
        }
    };
    match cmd.as_str() {
        "run" => config_arg(&args[1..]).map(Command::Run),
        "check-config" => config_arg(&args[1..]).map(Command::CheckConfig),
        "--version" | "-V" | "version" => Ok(Command::Version),
        "--help" | "-h" | "help" => Ok(Command::Help),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn load(path: Option<&PathBuf>) -> Result<Config, ExitCode> {
    match Config::load(path.map(|p| p.as_path())) {
        Ok(cfg) => {
            for w in cfg.warnings() {
                eprintln!("config warning: {w}");
            }
            Ok(cfg)
        }
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(e.exit_code() as u8))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("meritline: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("meritline {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::CheckConfig(path) => match load(path.as_ref()) {
            Ok(_) => {
                println!("config ok");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Run(path) => {
            let config = match load(path.as_ref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("meritline: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(meritline::server::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("meritline: {e}");
                    ExitCode::from(e.exit_code() as u8)
                }
            }
        }
    }
}
