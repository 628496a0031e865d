//! The `meritline` command: `meritline run [--config FILE]` runs the switch (embedded defaults
//! without a file); `meritline check-config [--config FILE]` validates a config and exits;
//! `meritline simulate [--config FILE] [--seed N] [--json FILE]` replays a simulated day per routing
//! strategy and prints the comparison.
//! Configuration and start-up errors print one clear line and exit with code 2.

use std::path::PathBuf;
use std::process::ExitCode;

use meritline::config::Config;

const USAGE: &str = "usage:
  meritline run [--config FILE]           run the switch (embedded defaults without --config)
  meritline check-config [--config FILE]  validate a config file and exit
  meritline simulate [--config FILE] [--seed N] [--json FILE]
                                          compare routing strategies over a simulated day
  meritline --version";

enum Command {
    Run(Option<PathBuf>),
    CheckConfig(Option<PathBuf>),
    Simulate { config: Option<PathBuf>, seed: Option<u64>, json: Option<PathBuf> },
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
        "simulate" => parse_simulate(&args[1..]),
        "--version" | "-V" | "version" => Ok(Command::Version),
        "--help" | "-h" | "help" => Ok(Command::Help),
        other => Err(format!("unknown command {other:?}")),
    }
}

fn parse_simulate(rest: &[String]) -> Result<Command, String> {
    let (mut config, mut seed, mut json) = (None, None, None);
    let mut it = rest.iter();
    // Bounded by the argument count.
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--config" | "-c" => config = Some(PathBuf::from(value)),
            "--seed" => seed = Some(value.parse::<u64>().map_err(|_| format!("--seed needs a number, got {value:?}"))?),
            "--json" => json = Some(PathBuf::from(value)),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(Command::Simulate { config, seed, json })
}

fn simulate(config: Option<&PathBuf>, seed: Option<u64>, json: Option<&PathBuf>) -> ExitCode {
    let result = meritline::sim::SimConfig::load(config.map(|p| p.as_path())).and_then(|mut cfg| {
        if let Some(seed) = seed {
            cfg.seed = seed;
        }
        let report = meritline::sim::run(&cfg)?;
        print!("{}", report.table());
        if let Some(path) = json {
            std::fs::write(path, report.to_json())
                .map_err(|source| meritline::sim::SimError::Write { path: path.display().to_string(), source })?;
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meritline: {e}");
            ExitCode::from(e.exit_code())
        }
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
        Command::Simulate { config, seed, json } => simulate(config.as_ref(), seed, json.as_ref()),
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
