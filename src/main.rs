//! Reads `.env`, validates the configuration, sets up logging, and serves.

use std::process::ExitCode;

use doorman::config::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let dotenv = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("doorman=info")),
        )
        .init();
    if let Err(err) = &dotenv
        && !err.not_found()
    {
        tracing::warn!("ignoring .env: {err}");
    }

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("doorman: configuration error: {err}");
            eprintln!("doorman: see .env.example for every variable and its meaning");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => {}
        Some("create-user") => {
            return match doorman::cli::create_user(&config, &args[1..]).await {
                Ok(message) => {
                    println!("{message}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("doorman create-user: {err:#}");
                    ExitCode::from(2)
                }
            };
        }
        Some("help" | "--help" | "-h") => {
            println!("usage: doorman [serve]\n{}", doorman::cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!(
                "doorman: unknown command `{other}`\nusage: doorman [serve]\n{}",
                doorman::cli::USAGE
            );
            return ExitCode::from(2);
        }
    }
    if config.is_development() {
        tracing::warn!(
            "DEVELOPMENT SIGN-IN: no OIDC_CLIENT_ID is set, so the built-in development provider \
             is on at {}/dev-oidc; anyone can sign in as anyone. Loopback only.",
            config.public_url()
        );
        if config.session.ephemeral {
            tracing::warn!(
                "no SESSION_SECRET: using a random one, so sessions end when doorman restarts"
            );
        }
    }
    let bind_addr = config.server.bind_addr;
    let listener = match tokio::net::TcpListener::bind(bind_addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("doorman: cannot listen on {bind_addr} (BIND_ADDR): {err}");
            return ExitCode::from(1);
        }
    };
    let server = config.server.clone();
    let public_url = config.public_url().clone();
    let state: doorman::AppState = match doorman::App::new(config, doorman::Deps::default()).await {
        Ok(app) => app.into(),
        Err(err) => {
            eprintln!("doorman: {err:#}");
            return ExitCode::from(1);
        }
    };
    state.0.spawn_background();
    tracing::info!("doorman listening on {bind_addr} (public URL {public_url})");
    let router = doorman::build_router(state);
    match doorman::server::serve(
        listener,
        router,
        &server,
        doorman::server::shutdown_signal(),
        std::time::Duration::from_secs(10),
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("doorman: {err:#}");
            ExitCode::from(1)
        }
    }
}
