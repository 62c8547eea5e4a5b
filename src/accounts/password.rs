//! Password policy: what a new password must be. Hashing is `hasher`'s job.

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Long enough for any passphrase, short enough that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A small list of the passwords attackers try first (12+ characters, lower-cased).
const COMMON_PASSWORDS: &[&str] = &[
    "password1234",
    "password12345",
    "password123456",
    "123456789012",
    "1234567890123",
    "12345678901234",
    "qwertyuiopas",
    "qwerty123456",
    "qwertyuiop123",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "administrator",
    "admin1234567",
    "changeme1234",
    "passw0rd1234",
    "p@ssw0rd1234",
    "abcdefghijkl",
    "abc123456789",
    "111111111111",
    "000000000000",
    "aaaaaaaaaaaa",
    "football1234",
    "baseball1234",
    "monkey123456",
    "sunshine1234",
    "princess1234",
    "dragon123456",
    "trustno11234",
    "superman1234",
    "correcthorsebatterystaple",
    "passwordpassword",
    "qwertyqwerty",
    "1q2w3e4r5t6y",
    "zaq12wsxcde3",
    "asdfghjkl123",
    "mypassword12",
    "secret123456",
    "doorman12345",
];

/// Why a password is refused; the message is shown to the person choosing it.
pub fn check_policy(username: &str, password: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err("password must be at least 12 characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("password must be at most 1024 bytes");
    }
    let lower = password.to_lowercase();
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Err("password must not contain the username");
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err("password is too common; choose another");
    }
    if lower
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 4
    {
        return Err("password is too repetitive; choose another");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_problem() {
        assert_eq!(
            check_policy("ada", "short"),
            Err("password must be at least 12 characters")
        );
        assert_eq!(
            check_policy("ada_lovelace", "xx-ada_lovelace-xx"),
            Err("password must not contain the username")
        );
        assert_eq!(
            check_policy("ada", "Password1234"),
            Err("password is too common; choose another")
        );
        assert_eq!(
            check_policy("ada", "abababababab"),
            Err("password is too repetitive; choose another")
        );
        assert!(check_policy("ada", "correct horse battery").is_ok());
    }
}
