//! Static network setup with the classic ioctls: `lo` up, `eth0` with the
//! address from `skiff.ip`, a default route through `skiff.gw`.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::cmdline::Ipv4Cidr;

/// Why an interface could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// An ioctl failed.
    #[error("{op} on {interface}: {source}")]
    Ioctl {
        /// The ioctl's purpose.
        op: &'static str,
        /// The interface.
        interface: String,
        /// The errno.
        source: std::io::Error,
    },
    /// The control socket could not be opened.
    #[error("opening a network control socket: {0}")]
    Socket(std::io::Error),
    /// The interface name does not fit `IFNAMSIZ`.
    #[error("interface name {0:?} is too long")]
    Name(String),
}

/// `struct rtentry` from `<linux/route.h>` (glibc's libc crate lacks it).
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

/// A `struct sockaddr` holding an IPv4 address.
pub fn sockaddr_v4(addr: Ipv4Addr) -> libc::sockaddr {
    // sockaddr_in's layout inside sa_data: the port (zero), the address in
    // network order, then zero padding.
    let mut data = [0 as libc::c_char; 14];
    for (dst, src) in data[2..6].iter_mut().zip(addr.octets()) {
        *dst = src as libc::c_char;
    }
    libc::sockaddr {
        sa_family: libc::AF_INET as libc::sa_family_t,
        sa_data: data,
    }
}

struct Control {
    fd: OwnedFd,
}

impl Control {
    fn open() -> Result<Self, NetError> {
        // SAFETY: plain socket(2) call; the descriptor is owned right below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(NetError::Socket(std::io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd })
    }

    fn ifreq(name: &str) -> Result<libc::ifreq, NetError> {
        if name.len() >= libc::IFNAMSIZ {
            return Err(NetError::Name(name.to_string()));
        }
        // SAFETY: ifreq is a plain C struct/union for which all-zero is valid.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        Ok(req)
    }

    fn ioctl<T>(
        &self,
        op: &'static str,
        request: libc::c_ulong,
        arg: &mut T,
        ifname: &str,
    ) -> Result<(), NetError> {
        // SAFETY: `arg` is the structure this request expects (ifreq or
        // rtentry), alive and writable for the duration of the call.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), request as _, arg as *mut T) };
        if rc < 0 {
            return Err(NetError::Ioctl {
                op,
                interface: ifname.to_string(),
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    fn set_addr(
        &self,
        ifname: &str,
        request: libc::c_ulong,
        op: &'static str,
        addr: Ipv4Addr,
    ) -> Result<(), NetError> {
        let mut req = Self::ifreq(ifname)?;
        req.ifr_ifru.ifru_addr = sockaddr_v4(addr);
        self.ioctl(op, request, &mut req, ifname)
    }

    fn up(&self, ifname: &str) -> Result<(), NetError> {
        let mut req = Self::ifreq(ifname)?;
        self.ioctl("SIOCGIFFLAGS", libc::SIOCGIFFLAGS, &mut req, ifname)?;
        // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        self.ioctl("SIOCSIFFLAGS", libc::SIOCSIFFLAGS, &mut req, ifname)
    }
}

/// Brings the loopback interface up (the kernel adds 127.0.0.1/8 itself).
pub fn loopback_up() -> Result<(), NetError> {
    Control::open()?.up("lo")
}

/// Whether an interface exists.
pub fn exists(ifname: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(ifname).exists()
}

/// Configures `ifname` with `ip`, brings it up and routes the default
/// route through `gw`.
pub fn configure(ifname: &str, ip: Ipv4Cidr, gw: Ipv4Addr) -> Result<(), NetError> {
    let ctl = Control::open()?;
    ctl.set_addr(ifname, libc::SIOCSIFADDR, "SIOCSIFADDR", ip.addr)?;
    ctl.set_addr(ifname, libc::SIOCSIFNETMASK, "SIOCSIFNETMASK", ip.netmask())?;
    ctl.up(ifname)?;
    let mut route = RtEntry {
        rt_pad1: 0,
        rt_dst: sockaddr_v4(Ipv4Addr::UNSPECIFIED),
        rt_gateway: sockaddr_v4(gw),
        rt_genmask: sockaddr_v4(Ipv4Addr::UNSPECIFIED),
        rt_flags: libc::RTF_UP | libc::RTF_GATEWAY,
        rt_pad2: 0,
        rt_pad3: 0,
        rt_pad4: std::ptr::null_mut(),
        rt_metric: 0,
        rt_dev: std::ptr::null_mut(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    match ctl.ioctl("SIOCADDRT", libc::SIOCADDRT, &mut route, ifname) {
        Err(NetError::Ioctl { source, .. }) if source.raw_os_error() == Some(libc::EEXIST) => {
            Ok(())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_layout() {
        let sa = sockaddr_v4(Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(sa.sa_family, libc::AF_INET as libc::sa_family_t);
        // Port (2 bytes, zero) then the address in network order.
        let data: Vec<u8> = sa.sa_data.iter().map(|b| *b as u8).collect();
        assert_eq!(&data[..6], &[0, 0, 10, 0, 2, 15]);
    }

    #[test]
    fn long_names_are_refused() {
        assert!(matches!(
            Control::ifreq("a-very-long-interface-name"),
            Err(NetError::Name(_))
        ));
    }

    #[test]
    fn loopback_flags_can_be_read() {
        // Reading flags needs no privilege; proves the ifreq plumbing.
        let ctl = Control::open().expect("socket");
        let mut req = Control::ifreq("lo").expect("ifreq");
        ctl.ioctl("SIOCGIFFLAGS", libc::SIOCGIFFLAGS, &mut req, "lo")
            .expect("ioctl");
        // SAFETY: SIOCGIFFLAGS filled the flags member.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        assert_ne!(flags as libc::c_int & libc::IFF_LOOPBACK, 0);
        assert!(matches!(
            ctl.ioctl(
                "SIOCGIFFLAGS",
                libc::SIOCGIFFLAGS,
                &mut Control::ifreq("nope0").expect("ifreq"),
                "nope0"
            ),
            Err(NetError::Ioctl { .. })
        ));
    }
}
