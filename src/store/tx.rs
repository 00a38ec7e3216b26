//! The store's transaction errors, so that no code outside `store` names sled's.
//!
//! A transaction body (run by [`Store::ledger_tx`](super::Store::ledger_tx) and
//! [`Store::with_outbox`](super::Store::with_outbox)) returns `Result<T, Abort<E>>`:
//! either the caller refuses the change (`Abort::Refused(E)`, e.g. "incident already
//! closed"), or a store operation failed ([`TxError`], which also carries sled's
//! "conflict, run the body again" signal). The runner flattens the outcome into one
//! `Result<T, E>`: a refusal as it was given, a storage failure as `E::from(StoreError)`.
//! Nothing is written unless the body returns `Ok`.

use sled::transaction::{
    ConflictableTransactionError, TransactionError, UnabortableTransactionError,
};

use super::StoreError;

/// A store operation inside a transaction failed (or sled asks to run the body again).
/// Propagate it with `?`; the runner retries or reports it.
#[derive(Debug)]
pub struct TxError(Failure);

#[derive(Debug)]
enum Failure {
    /// sled's conflict (retried) or storage error.
    Sled(UnabortableTransactionError),
    /// A record could not be read.
    Store(StoreError),
}

impl From<UnabortableTransactionError> for TxError {
    fn from(e: UnabortableTransactionError) -> TxError {
        TxError(Failure::Sled(e))
    }
}

impl From<sled::Error> for TxError {
    fn from(e: sled::Error) -> TxError {
        TxError(Failure::Sled(UnabortableTransactionError::Storage(e)))
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> TxError {
        TxError(Failure::Store(e))
    }
}

/// Why a transaction body stopped: the caller refused the change, or the store failed.
#[derive(Debug)]
pub enum Abort<E> {
    Refused(E),
    Store(TxError),
}

impl<E> From<TxError> for Abort<E> {
    fn from(e: TxError) -> Abort<E> {
        Abort::Store(e)
    }
}

/// The result of a store operation inside a transaction.
pub type TxResult<T> = std::result::Result<T, TxError>;

/// What a body refused, or what went wrong in the store, as sled's abort value.
pub(super) enum Stopped<E> {
    Refused(E),
    Store(StoreError),
}

/// Maps a body's answer to what sled's `transaction` expects.
pub(super) fn to_sled<T, E>(
    result: std::result::Result<T, Abort<E>>,
) -> std::result::Result<T, ConflictableTransactionError<Stopped<E>>> {
    result.map_err(|abort| match abort {
        Abort::Refused(e) => ConflictableTransactionError::Abort(Stopped::Refused(e)),
        Abort::Store(TxError(Failure::Store(e))) => {
            ConflictableTransactionError::Abort(Stopped::Store(e))
        }
        Abort::Store(TxError(Failure::Sled(e))) => e.into(),
    })
}

/// Flattens a finished sled transaction into the caller's error.
pub(super) fn flatten<T, E: From<StoreError>>(
    result: std::result::Result<T, TransactionError<Stopped<E>>>,
) -> std::result::Result<T, E> {
    result.map_err(|err| match err {
        TransactionError::Abort(Stopped::Refused(e)) => e,
        TransactionError::Abort(Stopped::Store(e)) => E::from(e),
        TransactionError::Storage(e) => E::from(StoreError::Sled(e)),
    })
}

/// Maps a failed store-internal transaction (whose body cannot refuse) to our error.
pub(super) fn plain_error(err: TransactionError<StoreError>) -> StoreError {
    match err {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

impl From<TxError> for ConflictableTransactionError<StoreError> {
    fn from(e: TxError) -> ConflictableTransactionError<StoreError> {
        match e.0 {
            Failure::Sled(e) => e.into(),
            Failure::Store(e) => ConflictableTransactionError::Abort(e),
        }
    }
}
