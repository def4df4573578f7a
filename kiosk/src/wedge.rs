//! Keyboard-wedge scanners: Linux key events in, the bytes the scanner meant out. Sans-I/O.
//!
//! A USB HID "keyboard wedge" scanner pretends to be a keyboard and types each scan. Read from
//! its evdev device (`/dev/input/by-id/…-event-kbd`), a scan is a sequence of key presses and
//! releases with key codes of a US layout, shift for capitals and symbols, and Enter or Tab at
//! the end. GS (ASCII 29), which a GS1 scan needs between fields, has no key of its own:
//! scanners type it as **Ctrl+]** or as **Alt + 0 2 9 on the keypad**. Both are understood here.
//!
//! [`Wedge::key`] takes one key event (code, value: 1 press, 0 release, 2 auto-repeat) and
//! returns the byte it typed, if any; the bytes go to the same [`crate::scan::ScanDecoder`] as a
//! serial scanner's.

/// Linux input key codes used here (`linux/input-event-codes.h`).
mod code {
    pub const ESC: u16 = 1;
    pub const BACKSPACE: u16 = 14;
    pub const TAB: u16 = 15;
    pub const ENTER: u16 = 28;
    pub const LEFTCTRL: u16 = 29;
    pub const LEFTSHIFT: u16 = 42;
    pub const RIGHTSHIFT: u16 = 54;
    pub const LEFTALT: u16 = 56;
    pub const SPACE: u16 = 57;
    pub const KPENTER: u16 = 96;
    pub const RIGHTCTRL: u16 = 97;
    pub const RIGHTALT: u16 = 100;
}

/// (unshifted, shifted) characters of the main block, indexed by key code.
fn main_block(key: u16) -> Option<(u8, u8)> {
    const ROWS: [(u16, &[u8], &[u8]); 4] = [
        (2, b"1234567890-=", b"!@#$%^&*()_+"),
        (16, b"qwertyuiop[]", b"QWERTYUIOP{}"),
        (30, b"asdfghjkl;'`", b"ASDFGHJKL:\"~"),
        (43, b"\\zxcvbnm,./", b"|ZXCVBNM<>?"),
    ];
    ROWS.iter().find_map(|(first, plain, shifted)| {
        let i = usize::from(key.checked_sub(*first)?);
        Some((*plain.get(i)?, *shifted.get(i)?))
    })
}

/// The digit of a keypad key (KP0…KP9), for Alt+digits.
fn keypad_digit(key: u16) -> Option<u8> {
    match key {
        71 => Some(7),
        72 => Some(8),
        73 => Some(9),
        75 => Some(4),
        76 => Some(5),
        77 => Some(6),
        79 => Some(1),
        80 => Some(2),
        81 => Some(3),
        82 => Some(0),
        _ => None,
    }
}

/// What a keypad key types without Alt (scanners set to "numeric keypad" mode).
fn keypad_char(key: u16) -> Option<u8> {
    match key {
        55 => Some(b'*'),
        74 => Some(b'-'),
        78 => Some(b'+'),
        83 => Some(b'.'),
        98 => Some(b'/'),
        k => keypad_digit(k).map(|d| b'0' + d),
    }
}

/// The modifier state of one keyboard-wedge scanner.
#[derive(Debug, Default)]
pub struct Wedge {
    shift: u8,
    ctrl: u8,
    alt: u8,
    /// Keypad digits typed while Alt is held; the byte is typed when Alt is released.
    alt_code: Option<u32>,
}

impl Wedge {
    /// One key event: `value` 1 = press, 0 = release, 2 = auto-repeat (ignored: a scanner does
    /// not hold keys). Returns the byte typed, if any.
    pub fn key(&mut self, key: u16, value: i32) -> Option<u8> {
        let pressed = match value {
            1 => true,
            0 => false,
            _ => return None,
        };
        let count = |n: &mut u8| {
            *n = if pressed {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            }
        };
        match key {
            code::LEFTSHIFT | code::RIGHTSHIFT => {
                count(&mut self.shift);
                return None;
            }
            code::LEFTCTRL | code::RIGHTCTRL => {
                count(&mut self.ctrl);
                return None;
            }
            code::LEFTALT | code::RIGHTALT => {
                count(&mut self.alt);
                if pressed {
                    self.alt_code = Some(0);
                    return None;
                }
                // Alt released: a typed Alt code becomes its byte.
                return match self.alt_code.take() {
                    Some(n) if self.alt == 0 && n <= 255 => u8::try_from(n).ok(),
                    _ => None,
                };
            }
            _ => {}
        }
        if !pressed {
            return None;
        }
        if self.alt > 0 {
            if let (Some(d), Some(n)) = (keypad_digit(key), self.alt_code.as_mut()) {
                *n = n.saturating_mul(10).saturating_add(u32::from(d)).min(1000);
            }
            return None;
        }
        match key {
            code::ENTER | code::KPENTER => Some(b'\r'),
            code::TAB => Some(b'\t'),
            code::SPACE => Some(b' '),
            code::ESC | code::BACKSPACE => None,
            k => {
                if let Some((plain, shifted)) = main_block(k) {
                    if self.ctrl > 0 {
                        // Ctrl+letter and Ctrl+[\]^_ are the C0 control characters: Ctrl+] = GS.
                        return match (plain, shifted) {
                            (b'a'..=b'z' | b'[' | b'\\' | b']', _) => Some(plain & 0x1F),
                            (_, b'^' | b'_') => Some(shifted & 0x1F),
                            _ => None,
                        };
                    }
                    return Some(if self.shift > 0 { shifted } else { plain });
                }
                keypad_char(k)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Presses and releases each key of `keys` (with shift where `shifted`).
    fn typed(w: &mut Wedge, events: &[(u16, i32)]) -> Vec<u8> {
        events.iter().filter_map(|&(k, v)| w.key(k, v)).collect()
    }

    fn tap(k: u16) -> [(u16, i32); 2] {
        [(k, 1), (k, 0)]
    }

    #[test]
    fn digits_letters_shift_and_enter() {
        let mut w = Wedge::default();
        let mut ev = Vec::new();
        for k in [2, 3, 4, 11] {
            ev.extend(tap(k)); // 1 2 3 0
        }
        ev.push((code::LEFTSHIFT, 1));
        ev.extend(tap(30)); // A
        ev.extend(tap(2)); // !
        ev.push((code::LEFTSHIFT, 0));
        ev.extend(tap(30)); // a
        ev.extend(tap(12)); // -
        ev.extend(tap(code::ENTER));
        assert_eq!(typed(&mut w, &ev), b"1230A!a-\r");
    }

    #[test]
    fn gs_as_ctrl_bracket_and_as_alt_keypad_029() {
        let mut w = Wedge::default();
        let mut ev = vec![(code::LEFTCTRL, 1)];
        ev.extend(tap(27)); // ]
        ev.push((code::LEFTCTRL, 0));
        ev.push((code::LEFTALT, 1));
        ev.extend(tap(82)); // KP0
        ev.extend(tap(80)); // KP2
        ev.extend(tap(73)); // KP9
        ev.push((code::LEFTALT, 0));
        ev.extend(tap(code::TAB));
        assert_eq!(typed(&mut w, &ev), b"\x1d\x1d\t");
    }

    #[test]
    fn ctrl_letters_and_repeats_and_unknown_keys() {
        let mut w = Wedge::default();
        let mut ev = vec![(code::RIGHTCTRL, 1)];
        ev.extend(tap(30)); // Ctrl+A = SOH
        ev.push((code::RIGHTCTRL, 0));
        ev.push((2, 2)); // auto-repeat: nothing
        ev.extend(tap(500)); // no such key
        ev.extend(tap(71)); // KP7 without Alt
        assert_eq!(typed(&mut w, &ev), b"\x017");
        // Alt codes over 255 and releases without presses type nothing and do not underflow.
        let mut ev = vec![(code::LEFTALT, 1)];
        for k in [79, 82, 82, 82] {
            ev.extend(tap(k)); // 1000
        }
        ev.push((code::LEFTALT, 0));
        ev.push((code::LEFTALT, 0));
        ev.push((code::LEFTSHIFT, 0));
        ev.extend(tap(31)); // s
        assert_eq!(typed(&mut w, &ev), b"s");
    }

    #[test]
    fn the_main_block_covers_the_us_layout() {
        let mut all = Vec::new();
        for k in 2..=53 {
            if let Some((p, s)) = main_block(k) {
                all.push(p);
                all.push(s);
            }
        }
        for c in b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-=[];',./\\`" {
            assert!(all.contains(c), "{}", char::from(*c));
        }
    }
}
