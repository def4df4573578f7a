//! Prompts: the IVR's voice, prerendered.
//!
//! Nothing is synthesised on the call path. The fixed prompts — every sentence the menu says,
//! the digits, and the number and date words — are WAV files in `ivr/prompts/{zh,en}/`, rendered
//! from `ivr/prompts/prompts.tsv` by `ivr/prompts/render.sh` (espeak-ng + sox) and committed.
//! They are compiled into the binary, so a server needs no asset directory; a `prompts_dir`
//! laid out the same way overrides any of them (studio recordings). Product, enterprise and city
//! names, which change with the data, are rendered off the call path and cached on disk by
//! [`names`].
//!
//! The menu speaks in [`Utterance`]s — a prompt, a digit string, a number, a date, a name — and
//! [`Library::render`] turns a list of them into one stretch of 8 kHz linear audio, which the
//! call encodes to its G.711 law. [`speech`] says how a verdict, a number or a date is spoken in
//! each language.

pub mod names;
pub mod speech;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use zhenwei_core::Lang;

use crate::g711::Law;

/// Why a prompt file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{0}: not a WAV file")]
    NotWav(String),
    #[error("{0}: unsupported WAV format (need 8000 Hz mono A-law, µ-law or 16-bit PCM)")]
    Format(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

macro_rules! prompt_ids {
    ($($variant:ident => $file:literal,)*) => {
        /// A fixed prompt; its file is `<lang>/<name>.wav`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum PromptId {
            $($variant,)*
        }

        impl PromptId {
            /// Every prompt, in `prompts.tsv` order.
            pub const ALL: &'static [PromptId] = &[$(PromptId::$variant,)*];

            /// The file stem.
            pub fn name(self) -> &'static str {
                match self {
                    $(PromptId::$variant => $file,)*
                }
            }

            /// The built-in recording.
            fn embedded(self, lang: Lang) -> &'static [u8] {
                match (self, lang) {
                    $(
                        (PromptId::$variant, Lang::Zh) => include_bytes!(concat!(
                            env!("CARGO_MANIFEST_DIR"), "/prompts/zh/", $file, ".wav"
                        )),
                        (PromptId::$variant, Lang::En) => include_bytes!(concat!(
                            env!("CARGO_MANIFEST_DIR"), "/prompts/en/", $file, ".wav"
                        )),
                    )*
                }
            }
        }
    };
}

prompt_ids! {
    LanguageMenu => "language_menu",
    EnterCode => "enter_code",
    YouEntered => "you_entered",
    ConfirmMenu => "confirm_menu",
    PleaseWait => "please_wait",
    NoInput => "no_input",
    InvalidKey => "invalid_key",
    Genuine => "genuine",
    Product => "product",
    Enterprise => "enterprise",
    FirstQuery => "first_query",
    CheckedBefore => "checked_before",
    Times => "times",
    FirstCheckedOn => "first_checked_on",
    FirstCheckedIn => "first_checked_in",
    Beware => "beware",
    Suspect => "suspect",
    UnknownRecheck => "unknown_recheck",
    UnknownCode => "unknown_code",
    NotACode => "not_a_code",
    ProductBarcode => "product_barcode",
    WExcessiveQueries => "w_excessive_queries",
    WCloneSuspected => "w_clone_suspected",
    WNotActivated => "w_not_activated",
    WCancelled => "w_cancelled",
    WBatchMismatch => "w_batch_mismatch",
    WExpiryMismatch => "w_expiry_mismatch",
    WExpired => "w_expired",
    WRecalled => "w_recalled",
    WSpotCheckFailed => "w_spot_check_failed",
    WCertificateInvalid => "w_certificate_invalid",
    WLicenceInvalid => "w_licence_invalid",
    WEnterpriseBlacklisted => "w_enterprise_blacklisted",
    WPrefixInvalid => "w_prefix_invalid",
    KeepReceipt => "keep_receipt",
    CaseNumber => "case_number",
    VerdictMenu => "verdict_menu",
    ReportReceived => "report_received",
    Transferring => "transferring",
    AgentClosed => "agent_closed",
    RateLimited => "rate_limited",
    ServiceUnavailable => "service_unavailable",
    Goodbye => "goodbye",
    Digit0 => "digit_0",
    Digit1 => "digit_1",
    Digit2 => "digit_2",
    Digit3 => "digit_3",
    Digit4 => "digit_4",
    Digit5 => "digit_5",
    Digit6 => "digit_6",
    Digit7 => "digit_7",
    Digit8 => "digit_8",
    Digit9 => "digit_9",
    Num0 => "num_0",
    Num1 => "num_1",
    Num2 => "num_2",
    Num3 => "num_3",
    Num4 => "num_4",
    Num5 => "num_5",
    Num6 => "num_6",
    Num7 => "num_7",
    Num8 => "num_8",
    Num9 => "num_9",
    Num10 => "num_10",
    Num11 => "num_11",
    Num12 => "num_12",
    Num13 => "num_13",
    Num14 => "num_14",
    Num15 => "num_15",
    Num16 => "num_16",
    Num17 => "num_17",
    Num18 => "num_18",
    Num19 => "num_19",
    Num20 => "num_20",
    Num30 => "num_30",
    Num40 => "num_40",
    Num50 => "num_50",
    Num60 => "num_60",
    Num70 => "num_70",
    Num80 => "num_80",
    Num90 => "num_90",
    Num100 => "num_100",
    Num1000 => "num_1000",
    Num10000 => "num_10000",
    Num1000000 => "num_1000000",
    Year => "year",
    Month1 => "month_1",
    Month2 => "month_2",
    Month3 => "month_3",
    Month4 => "month_4",
    Month5 => "month_5",
    Month6 => "month_6",
    Month7 => "month_7",
    Month8 => "month_8",
    Month9 => "month_9",
    Month10 => "month_10",
    Month11 => "month_11",
    Month12 => "month_12",
    Day => "day",
}

impl PromptId {
    /// The digit word for reading a code back (中文 幺 for 1, as telephone operators say it).
    pub fn digit(d: u8) -> PromptId {
        const D: [PromptId; 10] = [
            PromptId::Digit0,
            PromptId::Digit1,
            PromptId::Digit2,
            PromptId::Digit3,
            PromptId::Digit4,
            PromptId::Digit5,
            PromptId::Digit6,
            PromptId::Digit7,
            PromptId::Digit8,
            PromptId::Digit9,
        ];
        D[usize::from(d % 10)]
    }

    /// The number word for 0–20 and the tens (`None` for others).
    pub fn number(n: u32) -> Option<PromptId> {
        const N: [PromptId; 20] = [
            PromptId::Num0,
            PromptId::Num1,
            PromptId::Num2,
            PromptId::Num3,
            PromptId::Num4,
            PromptId::Num5,
            PromptId::Num6,
            PromptId::Num7,
            PromptId::Num8,
            PromptId::Num9,
            PromptId::Num10,
            PromptId::Num11,
            PromptId::Num12,
            PromptId::Num13,
            PromptId::Num14,
            PromptId::Num15,
            PromptId::Num16,
            PromptId::Num17,
            PromptId::Num18,
            PromptId::Num19,
        ];
        match n {
            0..=19 => N.get(n as usize).copied(),
            20 => Some(PromptId::Num20),
            30 => Some(PromptId::Num30),
            40 => Some(PromptId::Num40),
            50 => Some(PromptId::Num50),
            60 => Some(PromptId::Num60),
            70 => Some(PromptId::Num70),
            80 => Some(PromptId::Num80),
            90 => Some(PromptId::Num90),
            100 => Some(PromptId::Num100),
            1000 => Some(PromptId::Num1000),
            10_000 => Some(PromptId::Num10000),
            1_000_000 => Some(PromptId::Num1000000),
            _ => None,
        }
    }

    /// The month name (1–12).
    pub fn month(m: u32) -> Option<PromptId> {
        const M: [PromptId; 12] = [
            PromptId::Month1,
            PromptId::Month2,
            PromptId::Month3,
            PromptId::Month4,
            PromptId::Month5,
            PromptId::Month6,
            PromptId::Month7,
            PromptId::Month8,
            PromptId::Month9,
            PromptId::Month10,
            PromptId::Month11,
            PromptId::Month12,
        ];
        M.get((m as usize).wrapping_sub(1)).copied()
    }
}

/// Something to say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Say {
    Prompt(PromptId),
    /// Decimal digits read one by one (a code, a case number). Other characters are skipped.
    Digits(String),
    /// A count.
    Number(i64),
    /// A calendar date.
    Date(NaiveDate),
    /// A product, enterprise or city name, from the name cache (omitted if not rendered yet).
    Name(String),
    /// Silence.
    Pause {
        ms: u32,
    },
}

/// Something to say, in a language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Utterance {
    pub lang: Lang,
    pub say: Say,
}

impl Utterance {
    pub fn new(lang: Lang, say: Say) -> Utterance {
        Utterance { lang, say }
    }

    pub fn prompt(lang: Lang, id: PromptId) -> Utterance {
        Utterance::new(lang, Say::Prompt(id))
    }
}

/// Reads an 8 kHz mono WAV (A-law, µ-law or 16-bit PCM) into linear samples.
pub fn parse_wav(name: &str, bytes: &[u8]) -> Result<Vec<i16>, PromptError> {
    let not_wav = || PromptError::NotWav(name.to_owned());
    let bad = || PromptError::Format(name.to_owned());
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(not_wav());
    }
    let u16_at = |b: &[u8], i: usize| b.get(i..i + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32_at = |b: &[u8], i: usize| {
        b.get(i..i + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    let mut at = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while let (Some(id), Some(size)) = (bytes.get(at..at + 4), u32_at(bytes, at + 4)) {
        let size = size as usize;
        let body = at + 8;
        let chunk = bytes
            .get(body..body.saturating_add(size).min(bytes.len()))
            .ok_or_else(not_wav)?;
        match id {
            b"fmt " => {
                format = Some((
                    u16_at(chunk, 0).ok_or_else(bad)?,
                    u16_at(chunk, 2).ok_or_else(bad)?,
                    u32_at(chunk, 4).ok_or_else(bad)?,
                    u16_at(chunk, 14).ok_or_else(bad)?,
                ));
            }
            b"data" => {
                let (tag, channels, rate, bits) = format.ok_or_else(bad)?;
                if channels != 1 || rate != 8000 {
                    return Err(bad());
                }
                // WAVE_FORMAT_EXTENSIBLE keeps the real tag in its sub-format GUID; sox writes
                // the plain tags for these encodings.
                return match (tag, bits) {
                    (1, 16) => Ok(chunk
                        .chunks_exact(2)
                        .map(|x| i16::from_le_bytes([x[0], x[1]]))
                        .collect()),
                    (6, 8) => Ok(chunk.iter().map(|&b| Law::Alaw.decode(b)).collect()),
                    (7, 8) => Ok(chunk.iter().map(|&b| Law::Ulaw.decode(b)).collect()),
                    _ => Err(bad()),
                };
            }
            _ => {}
        }
        at = body.saturating_add(size).saturating_add(size % 2);
    }
    Err(not_wav())
}

/// Where spoken names come from (the [`names::NameCache`] in production).
pub trait NameVoices: Send + Sync {
    /// The rendered audio of `text` in `lang`, if ready. A miss may start rendering it for next
    /// time; it must not block.
    fn voice(&self, lang: Lang, text: &str) -> Option<Arc<[i16]>>;
}

/// No names at all (tests, or a server without espeak-ng).
pub struct NoNames;

impl NameVoices for NoNames {
    fn voice(&self, _: Lang, _: &str) -> Option<Arc<[i16]>> {
        None
    }
}

/// The fixed prompts, decoded, in both languages.
pub struct Library {
    audio: HashMap<(Lang, PromptId), Arc<[i16]>>,
}

impl Library {
    /// The built-in prompts.
    pub fn builtin() -> Result<Library, PromptError> {
        Library::load(None)
    }

    /// The built-in prompts, with any file found in `dir/<lang>/<id>.wav` taking precedence.
    pub fn load(dir: Option<&Path>) -> Result<Library, PromptError> {
        let mut audio = HashMap::new();
        for &id in PromptId::ALL {
            for lang in [Lang::Zh, Lang::En] {
                let sub = if lang.is_en() { "en" } else { "zh" };
                let file = format!("{sub}/{}.wav", id.name());
                let over = dir.map(|d| d.join(&file)).filter(|p| p.is_file());
                let samples = match over {
                    Some(path) => {
                        let bytes = std::fs::read(&path).map_err(|source| PromptError::Io {
                            path: path.display().to_string(),
                            source,
                        })?;
                        parse_wav(&path.display().to_string(), &bytes)?
                    }
                    None => parse_wav(&file, id.embedded(lang))?,
                };
                audio.insert((lang, id), Arc::from(samples));
            }
        }
        Ok(Library { audio })
    }

    /// One prompt's samples.
    pub fn samples(&self, lang: Lang, id: PromptId) -> &[i16] {
        self.audio.get(&(lang, id)).map_or(&[], |a| a)
    }

    /// Renders utterances into one stretch of 8 kHz linear audio.
    pub fn render(&self, items: &[Utterance], names: &dyn NameVoices) -> Vec<i16> {
        let mut out = Vec::new();
        for u in items {
            match &u.say {
                Say::Name(text) => match names.voice(u.lang, text) {
                    Some(a) => out.extend_from_slice(&a),
                    None => tracing::debug!(name = %text, "name not rendered yet; omitted"),
                },
                Say::Pause { ms } => {
                    out.extend(std::iter::repeat_n(0i16, (*ms as usize).min(10_000) * 8))
                }
                say => {
                    for id in speech::expand(u.lang, say) {
                        out.extend_from_slice(self.samples(u.lang, id));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtmf::inband::InbandDetector;

    #[test]
    fn the_id_list_matches_prompts_tsv() {
        let tsv = include_str!("../../prompts/prompts.tsv");
        let ids: Vec<&str> = tsv
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        let names: Vec<&str> = PromptId::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(ids, names);
        for l in tsv.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            assert_eq!(l.split('\t').count(), 3, "{l}");
        }
    }

    #[test]
    fn every_builtin_prompt_is_speech_of_sensible_length() {
        let lib = Library::builtin().unwrap();
        for &id in PromptId::ALL {
            for lang in [Lang::Zh, Lang::En] {
                let s = lib.samples(lang, id);
                let secs = s.len() as f64 / 8000.0;
                assert!((0.15..15.0).contains(&secs), "{lang:?} {id:?}: {secs} s");
                let rms =
                    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
                assert!(rms > 500.0, "{lang:?} {id:?} is too quiet: rms {rms}");
            }
        }
    }

    #[test]
    fn no_prompt_contains_a_dtmf_digit() {
        // The in-band detector listens while prompts play (echo, or a caller's speakerphone):
        // none of our own speech may look like a key.
        let lib = Library::builtin().unwrap();
        for &id in PromptId::ALL {
            for lang in [Lang::Zh, Lang::En] {
                let mut d = InbandDetector::new();
                let found = d.push(lib.samples(lang, id));
                assert!(found.is_empty(), "{lang:?} {id:?}: {found:?}");
            }
        }
    }

    #[test]
    fn wav_formats() {
        let wav = |tag: u16, bits: u16, rate: u32, data: &[u8]| {
            let mut b = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0".to_vec();
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&rate.to_le_bytes());
            b.extend_from_slice(&[0; 6]);
            b.extend_from_slice(&bits.to_le_bytes());
            b.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // odd chunk, padded
            b.extend_from_slice(b"data");
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(data);
            b
        };
        assert_eq!(
            parse_wav("x", &wav(1, 16, 8000, &[1, 0, 0xFF, 0xFF])).unwrap(),
            vec![1, -1]
        );
        assert_eq!(parse_wav("x", &wav(6, 8, 8000, &[0xD5])).unwrap(), vec![8]);
        assert_eq!(parse_wav("x", &wav(7, 8, 8000, &[0xFF])).unwrap(), vec![0]);
        assert!(matches!(
            parse_wav("x", &wav(1, 16, 16000, &[])),
            Err(PromptError::Format(_))
        ));
        assert!(matches!(
            parse_wav("x", &wav(3, 32, 8000, &[])),
            Err(PromptError::Format(_))
        ));
        assert!(matches!(
            parse_wav("x", b"RIFF"),
            Err(PromptError::NotWav(_))
        ));
        assert!(matches!(
            parse_wav("x", b"RIFF\0\0\0\0WAVEdata\xff\xff\xff\xff"),
            Err(PromptError::Format(_))
        ));
        let truncated = wav(1, 16, 8000, &[1, 0, 2, 0]);
        let _ = parse_wav("x", &truncated[..truncated.len() - 3]);
    }

    #[test]
    fn overrides_replace_builtin_prompts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("en")).unwrap();
        let mut b = b"RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x06\0\x01\0\x40\x1f\0\0\0\0\0\0\0\0\x08\0data\x02\0\0\0".to_vec();
        b.extend_from_slice(&[0xD5, 0xD5]);
        std::fs::write(dir.path().join("en/goodbye.wav"), b).unwrap();
        let lib = Library::load(Some(dir.path())).unwrap();
        assert_eq!(lib.samples(Lang::En, PromptId::Goodbye), &[8, 8]);
        assert!(lib.samples(Lang::Zh, PromptId::Goodbye).len() > 8000);
    }

    #[test]
    fn render_concatenates_and_omits_missing_names() {
        let lib = Library::builtin().unwrap();
        let one = lib.samples(Lang::En, PromptId::Digit1).len();
        let two = lib.samples(Lang::En, PromptId::Digit2).len();
        let audio = lib.render(
            &[
                Utterance::new(Lang::En, Say::Digits("1-2".into())),
                Utterance::new(Lang::En, Say::Pause { ms: 100 }),
                Utterance::new(Lang::En, Say::Name("Acme".into())),
            ],
            &NoNames,
        );
        assert_eq!(audio.len(), one + two + 800);
    }
}
