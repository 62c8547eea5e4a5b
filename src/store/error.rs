//! What can go wrong in the store, and what a client is told for each: 503 (try again),
//! 409, 404, or an internal error whose detail stays in the log.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Locked, read-only, full or unreachable: worth retrying later (503).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness or safety rule was hit: a taken username, the last admin (409).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("store error: {0}")]
    Internal(String),
}

/// What a client is told when the store fails: 503 (retry), 409, 404, or an internal error.
impl From<StoreError> for crate::error::AppError {
    fn from(err: StoreError) -> Self {
        use crate::error::AppError;
        use axum::http::StatusCode;
        match err {
            StoreError::Unavailable(reason) => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the accounts store is busy or read-only; nothing was changed, try again shortly",
            )
            .page(
                "Temporarily unavailable",
                "doorman cannot reach its accounts store right now. Please try again in a minute.",
            )
            .detail(reason)
            .retry_after(2),
            StoreError::Conflict("last_admin") => AppError::new(
                StatusCode::CONFLICT,
                "last_admin",
                "this is the last admin: make someone else an admin first",
            ),
            StoreError::Conflict(what) => AppError::new(StatusCode::CONFLICT, "conflict", what),
            StoreError::NotFound => {
                AppError::new(StatusCode::NOT_FOUND, "not_found", "no such user")
            }
            StoreError::Internal(reason) => AppError::internal(reason),
        }
    }
}

crate::error::renders_as_app_error!(StoreError);
