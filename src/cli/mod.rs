//! The command line: `doorman [serve]`, `doorman check`, `doorman create-user`, the terminal
//! client's `doorman login | token | logout`, `--help` and `--version`. The command is read before anything else, so `--help` works with a broken
//! configuration; then `.env` and the configuration are read and the command runs.

mod check;
mod create_user;
mod serve;
mod terminal;

use std::process::ExitCode;

use crate::config::{Config, help_table};

pub use check::check;
pub use create_user::{USAGE as CREATE_USER_USAGE, create_user};
pub use serve::serve;
pub use terminal::{TerminalCommand, USAGE as TERMINAL_USAGE};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Serve,
    Check,
    CreateUser(Vec<String>),
    Terminal(TerminalCommand),
    Help,
    Version,
}

impl Command {
    /// The command `args` (without the program name) name; `Err` with a message otherwise.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        match args.first().map(String::as_str) {
            None => Ok(Self::Serve),
            Some("serve") if args.len() == 1 => Ok(Self::Serve),
            Some("check") if args.len() == 1 => Ok(Self::Check),
            Some("create-user") => Ok(Self::CreateUser(args[1..].to_vec())),
            Some("login") => match &args[1..] {
                [url] => Ok(Self::Terminal(TerminalCommand::Login(url.clone()))),
                _ => Err("usage: doorman login URL (doorman's address)".into()),
            },
            Some(verb @ ("token" | "logout")) => {
                let url = match &args[1..] {
                    [] => None,
                    [url] => Some(url.clone()),
                    _ => return Err(format!("usage: doorman {verb} [URL]")),
                };
                Ok(Self::Terminal(if verb == "token" {
                    TerminalCommand::Token(url)
                } else {
                    TerminalCommand::Logout(url)
                }))
            }
            Some("help" | "--help" | "-h") => Ok(Self::Help),
            Some("version" | "--version" | "-V") => Ok(Self::Version),
            Some(other) if other.starts_with('-') => Err(format!("unknown option `{other}`")),
            Some(other) if args.len() == 1 => Err(format!("unknown command `{other}`")),
            Some(other) => Err(format!("`{other}` takes no arguments")),
        }
    }
}

/// `doorman --version`.
pub fn version() -> String {
    format!("doorman {}", env!("CARGO_PKG_VERSION"))
}

/// `doorman --help`: the commands, then every variable with its default (from `config::VARS`,
/// the table the parser reads, so the two cannot drift).
pub fn help() -> String {
    format!(
        "{version}: sign in with Google or any OpenID Connect provider, stay signed in with a
short-lived session token, and guard the services behind it.

usage: doorman [COMMAND]

commands:
  serve         serve HTTP (the default)
  check         validate the configuration, open and migrate the store, discover the provider
                and fetch its keys; one line per check, exit 0 only when all pass
  create-user   make a local account (see below)
  login URL     sign in to a doorman from this terminal (approve the code in any browser)
  token [URL]   print a valid access token for scripts (refreshed when close to expiry)
  logout [URL]  end that session and forget its tokens
  --help        this text
  --version     the version

{CREATE_USER_USAGE}

{TERMINAL_USAGE}

configuration (environment variables, or a .env file in the working directory):
{table}",
        version = version(),
        table = help_table()
    )
}

/// The whole program: `args` without the program name.
pub fn main(args: Vec<String>) -> ExitCode {
    let command = match Command::parse(&args) {
        Ok(command) => command,
        Err(message) => {
            eprintln!(
                "doorman: {message}\nusage: doorman [serve|check|create-user|login|token|logout|--help|--version]"
            );
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("{}", version());
            return ExitCode::SUCCESS;
        }
        // The client commands need no server configuration (and read no .env).
        Command::Terminal(command) => return terminal::run(command),
        _ => {}
    }
    read_dotenv();
    let config = Config::from_env();
    if let Err(message) = serve::serving_threads() {
        eprintln!("doorman: configuration error: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("doorman: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    if command == Command::Check {
        return runtime.block_on(check(config));
    }
    match config {
        Ok(config) => runtime.block_on(run(command, config)),
        Err(err) => {
            eprintln!("doorman: configuration error: {err}");
            eprintln!("doorman: see `doorman --help` or .env.example for every variable");
            ExitCode::from(2)
        }
    }
}

/// `.env`, when there is one (a broken one is said, then ignored).
fn read_dotenv() {
    if let Err(err) = dotenvy::dotenv()
        && !err.not_found()
    {
        eprintln!("doorman: ignoring .env: {err}");
    }
}

/// `serve` or `create-user`, with a valid configuration.
async fn run(command: Command, config: Config) -> ExitCode {
    match command {
        Command::CreateUser(args) => match create_user(&config, &args).await {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("doorman create-user: {err:#}");
                ExitCode::from(2)
            }
        },
        _ => serve(config).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Command::parse(&args.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn commands_and_flags_are_recognised_and_strays_refused() {
        assert_eq!(parse(&[]), Ok(Command::Serve));
        assert_eq!(parse(&["serve"]), Ok(Command::Serve));
        assert_eq!(parse(&["check"]), Ok(Command::Check));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
        assert_eq!(
            parse(&["create-user", "--username", "x"]),
            Ok(Command::CreateUser(vec!["--username".into(), "x".into()]))
        );
        assert!(parse(&["--verbose"]).is_err());
        assert!(parse(&["serv"]).is_err());
        assert!(parse(&["check", "now"]).is_err());
    }

    #[test]
    fn help_lists_every_command_and_every_variable_with_its_default() {
        let text = help();
        for command in ["serve", "check", "create-user", "--version"] {
            assert!(text.contains(command), "{command}");
        }
        for var in crate::config::VARS {
            assert!(text.contains(var.name), "{}", var.name);
            if !var.default.is_empty() {
                assert!(
                    text.contains(&format!("(default: {})", var.default)),
                    "{}",
                    var.name
                );
            }
        }
    }
}
