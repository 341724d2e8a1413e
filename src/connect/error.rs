//! Connect's errors: what the REST API answers with (`error_code` is the HTTP
//! status, as in Kafka's `ConnectRestException`) and what a worker logs.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Connector {0} not found")]
    NotFound(String),
    #[error("Connector {0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    #[error("{0}")]
    Data(String),
}

impl Error {
    /// The HTTP status the REST API answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::AlreadyExists(_) | Error::Conflict(_) => 409,
            Error::BadRequest(_) | Error::Config(_) => 400,
            _ => 500,
        }
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
