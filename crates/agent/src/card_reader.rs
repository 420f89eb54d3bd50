//! Reading a FeliCa card's IDm and PMm through PC/SC, as Sony PaSoRi readers expose them: the
//! reader answers GET DATA (`FF CA 00 00 00`) with the IDm and `FF CA 01 00 00` with the PMm,
//! both without keys. The card's number is not secret and can be emulated (DESIGN §4.5); what
//! makes a login strong is the PIN derived from it.

use std::ffi::CString;

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

/// GET DATA for the card's identifier: the IDm of a FeliCa card.
const GET_IDM: [u8; 5] = [0xFF, 0xCA, 0x00, 0x00, 0x00];
/// GET DATA, P1 = 01: the PMm of a FeliCa card.
const GET_PMM: [u8; 5] = [0xFF, 0xCA, 0x01, 0x00, 0x00];

/// What a reader read off the card on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadCard {
    /// The manufacture ID (IDm): the card's number.
    pub idm: [u8; 8],
    /// The manufacture parameter (PMm), when the reader hands it out.
    pub pmm: Option<[u8; 8]>,
    /// The PC/SC name of the reader the card is on.
    pub reader: String,
}

/// Why no card could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardReaderError {
    /// The PC/SC service is not running, or this process cannot reach its socket.
    #[error("the PC/SC service is not running: start pcscd (systemctl start pcscd.socket)")]
    NoService,
    /// PC/SC knows no reader at all.
    #[error("no card reader found: plug a reader in (and check that pcscd is running)")]
    NoReaders,
    /// The reader asked for is not connected.
    #[error("no card reader named {name:?}; connected: {}", available.join(", "))]
    UnknownReader {
        /// The name asked for.
        name: String,
        /// The readers PC/SC knows.
        available: Vec<String>,
    },
    /// The card's answer was not a FeliCa IDm.
    #[error("the card on {reader} is not readable as a FeliCa card: {reason}")]
    Unreadable {
        /// The reader.
        reader: String,
        /// What was wrong with the answer.
        reason: ResponseError,
    },
    /// Another PC/SC failure.
    #[error("PC/SC, {during}: {error}")]
    Pcsc {
        /// What was being done.
        during: &'static str,
        /// PC/SC's error.
        error: pcsc::Error,
    },
}

/// What is wrong with a card's response APDU to GET DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Shorter than the two status bytes.
    #[error("a response of {0} bytes, without a status word")]
    TooShort(usize),
    /// A status word other than 90 00.
    #[error("status {0:04X}")]
    Status(u16),
    /// Success, but not 8 bytes of data (not a FeliCa card: e.g. a 4- or 7-byte ISO 14443 UID).
    #[error("an identifier of {0} bytes, not 8")]
    Length(usize),
}

/// Reads the card on `reader` (by its PC/SC name; `None`: the first reader). `Ok(None)` when
/// the reader has no card (or it was taken away during the read). Blocking: a short-lived
/// PC/SC context per call.
pub fn read_card(reader: Option<&str>) -> Result<Option<ReadCard>, CardReaderError> {
    let context = Context::establish(Scope::User).map_err(|e| pcsc_error("connecting", e))?;
    let readers = context
        .list_readers_owned()
        .map_err(|e| pcsc_error("listing readers", e))?;
    let name = choose_reader(&readers, reader)?;
    let reader_name = name.to_string_lossy().into_owned();
    let card = match context.connect(&name, ShareMode::Shared, Protocols::ANY) {
        Ok(card) => card,
        Err(e) if is_no_card(e) => return Ok(None),
        Err(e) => return Err(pcsc_error("connecting to the card", e)),
    };
    let read = read_connected(&card, &reader_name);
    // Leave the card as it is: a reset of a card that was just taken away fails, and nothing
    // here needs one (the pcsc crate's drop would reset it).
    let _ = card.disconnect(Disposition::LeaveCard);
    read
}

/// IDm and PMm of the connected card.
fn read_connected(
    card: &pcsc::Card,
    reader_name: &str,
) -> Result<Option<ReadCard>, CardReaderError> {
    let mut buffer = [0u8; pcsc::MAX_BUFFER_SIZE];
    let idm = match card.transmit(&GET_IDM, &mut buffer) {
        Ok(response) => parse_get_data(response).map_err(|reason| CardReaderError::Unreadable {
            reader: reader_name.to_string(),
            reason,
        })?,
        Err(e) if is_no_card(e) => return Ok(None),
        Err(e) => return Err(pcsc_error("reading the IDm", e)),
    };
    let pmm = match card.transmit(&GET_PMM, &mut buffer) {
        Ok(response) => parse_get_data(response).ok(),
        Err(e) if is_no_card(e) => return Ok(None),
        Err(_) => None,
    };
    Ok(Some(ReadCard {
        idm,
        pmm,
        reader: reader_name.to_string(),
    }))
}

/// The 8 data bytes of a GET DATA response APDU (`data ‖ 90 00`).
pub fn parse_get_data(response: &[u8]) -> Result<[u8; 8], ResponseError> {
    let Some((data, status)) = response.split_last_chunk::<2>() else {
        return Err(ResponseError::TooShort(response.len()));
    };
    let status = u16::from_be_bytes(*status);
    if status != 0x9000 {
        return Err(ResponseError::Status(status));
    }
    <[u8; 8]>::try_from(data).map_err(|_| ResponseError::Length(data.len()))
}

fn choose_reader(readers: &[CString], wanted: Option<&str>) -> Result<CString, CardReaderError> {
    let found = match wanted {
        None => readers.first(),
        Some(name) => readers.iter().find(|r| r.to_bytes() == name.as_bytes()),
    };
    match (found, wanted) {
        (Some(reader), _) => Ok(reader.clone()),
        (None, _) if readers.is_empty() => Err(CardReaderError::NoReaders),
        (None, name) => Err(CardReaderError::UnknownReader {
            name: name.unwrap_or_default().to_string(),
            available: readers
                .iter()
                .map(|r| r.to_string_lossy().into_owned())
                .collect(),
        }),
    }
}

/// Whether PC/SC's answer means "no card on the reader".
fn is_no_card(error: pcsc::Error) -> bool {
    matches!(
        error,
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard | pcsc::Error::ResetCard
    )
}

fn pcsc_error(during: &'static str, error: pcsc::Error) -> CardReaderError {
    match error {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => CardReaderError::NoService,
        pcsc::Error::NoReadersAvailable => CardReaderError::NoReaders,
        error => CardReaderError::Pcsc { during, error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_data_responses_parse_strictly() {
        let idm = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
        let mut ok = idm.to_vec();
        ok.extend([0x90, 0x00]);
        assert_eq!(parse_get_data(&ok), Ok(idm));
        for (response, expected) in [
            (&[][..], ResponseError::TooShort(0)),
            (&[0x90][..], ResponseError::TooShort(1)),
            (&[0x6A, 0x81][..], ResponseError::Status(0x6A81)),
            (&[0x01, 0x02, 0x63, 0x00][..], ResponseError::Status(0x6300)),
            (&[0x90, 0x00][..], ResponseError::Length(0)),
            (&[1, 2, 3, 4, 0x90, 0x00][..], ResponseError::Length(4)),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 0x90, 0x00][..],
                ResponseError::Length(9),
            ),
        ] {
            assert_eq!(parse_get_data(response), Err(expected), "{response:02x?}");
        }
    }

    #[test]
    fn the_reader_is_the_one_named_or_the_first() {
        let readers = [
            CString::new("Sony FeliCa Port/PaSoRi 4.0 00 00").unwrap(),
            CString::new("Virtual PCD 00 00").unwrap(),
        ];
        assert_eq!(choose_reader(&readers, None).unwrap(), readers[0]);
        assert_eq!(
            choose_reader(&readers, Some("Virtual PCD 00 00")).unwrap(),
            readers[1]
        );
        let unknown = choose_reader(&readers, Some("Virtual PCD")).unwrap_err();
        assert!(
            matches!(&unknown, CardReaderError::UnknownReader { available, .. } if available.len() == 2),
            "{unknown}"
        );
        assert!(matches!(
            choose_reader(&[], None),
            Err(CardReaderError::NoReaders)
        ));
        assert!(matches!(
            choose_reader(&[], Some("Virtual PCD 00 00")),
            Err(CardReaderError::NoReaders)
        ));
    }
}
