//! Local accounts and API clients end to end, against a real SQLite file, one module per
//! behaviour: registration, password sign-in (JSON and Basic), refresh-token rotation and
//! sign-out, who is an admin (`ADMIN_EMAILS`), what the admin API does to accounts, the home
//! page's password form, and the `create-user` command.

mod admin_api;
mod admins;
mod create_user;
mod password_form;
mod password_login;
mod refresh_and_logout;
mod registration;
