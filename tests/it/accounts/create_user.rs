//! `doorman create-user`, the real binary: an account that can sign in with its roles, the
//! password from the environment or stdin, and a message (never the password) for each
//! refusal.

use serde_json::json;

use crate::support::accounts::*;
use crate::support::jwt_payload;

fn create_user_command(database_url: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_doorman"));
    command
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "off")
        .current_dir(std::env::temp_dir())
        .arg("create-user");
    command
}

#[tokio::test]
async fn create_user_makes_an_account_that_can_sign_in_with_its_roles() {
    let database = crate::support::temp_database();

    let output = create_user_command(&database)
        .args(["--username", "ci-bot", "--email", "ci@example.com"])
        .args(["--name", "CI Bot", "--role", "admin", "--role", "deployer"])
        .env("DOORMAN_PASSWORD", PASSWORD)
        .output()
        .expect("run doorman create-user");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}: {stdout} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("created user"), "{stdout}");
    assert!(stdout.contains("admin, deployer"), "{stdout}");
    assert!(!stdout.contains(PASSWORD));

    let app =
        spawn_accounts_app(&[("DATABASE_URL", &database), ("ALLOW_REGISTRATION", "false")]).await;
    let tokens = app.login("ci-bot").await;
    let claims = jwt_payload(access_token(&tokens));
    assert_eq!(claims["roles"], json!(["admin", "deployer"]));
    assert_eq!(claims["name"], "CI Bot");
    let (status, users) = status_json(
        app.get_bearer("/api/admin/users", access_token(&tokens))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users[0]["username"], "ci-bot");
}

#[tokio::test]
async fn create_user_reads_the_password_from_stdin() {
    use std::io::Write;
    let database = crate::support::temp_database();

    let mut child = create_user_command(&database)
        .args(["--username", "oncall", "--email", "oncall@example.com"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn doorman create-user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write the password");
    let output = child.wait_with_output().expect("wait");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let app = spawn_accounts_app(&[("DATABASE_URL", &database)]).await;
    let tokens = app.login("oncall").await;
    assert_eq!(jwt_payload(access_token(&tokens))["name"], "oncall");
}

#[tokio::test]
async fn create_user_refuses_weak_passwords_bad_input_and_taken_names_with_a_message() {
    let database = crate::support::temp_database();
    let run = |args: &[&str], password: &str| {
        create_user_command(&database)
            .args(args)
            .env("DOORMAN_PASSWORD", password)
            .output()
            .expect("run doorman create-user")
    };
    let ok = ["--username", "ci-bot", "--email", "ci@example.com"];

    let cases: [(&[&str], &str, &str); 5] = [
        (&ok, "short", "at least 12 characters"),
        (&ok, "password1234", "too common"),
        (&["--username", "ci-bot"], PASSWORD, "--email is required"),
        (
            &[
                "--username",
                "ci-bot",
                "--email",
                "ci@example.com",
                "--role",
                "Admin!",
            ],
            PASSWORD,
            "--role Admin!",
        ),
        (
            &["--username", "x' OR '1'='1", "--email", "ci@example.com"],
            PASSWORD,
            "username must be",
        ),
    ];
    for (args, password, says) in cases {
        let output = run(args, password);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "the password is never printed");
    }

    assert!(run(&ok, PASSWORD).status.success());
    let taken = run(&ok, PASSWORD);
    assert!(!taken.status.success(), "a taken username fails");
    assert!(
        String::from_utf8_lossy(&taken.stderr).contains("username_taken"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
}
