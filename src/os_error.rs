//! Operating-system errors in Chinese. `std::io::Error` displays in English
//! (`No such file or directory (os error 2)`); every message a person reads names the
//! problem with [`describe`] instead, keeping the OS error number for support.

use std::io::{Error, ErrorKind};

/// A Chinese description of an IO error, e.g. `文件或目录不存在（系统错误 2）`.
pub fn describe(err: &Error) -> String {
    let what = match err.kind() {
        ErrorKind::NotFound => "文件或目录不存在",
        ErrorKind::PermissionDenied => "没有权限",
        ErrorKind::AlreadyExists => "已存在",
        ErrorKind::IsADirectory => "这是一个目录，不是文件",
        ErrorKind::NotADirectory => "路径中有一段不是目录",
        ErrorKind::DirectoryNotEmpty => "目录不为空",
        ErrorKind::ReadOnlyFilesystem => "文件系统为只读",
        ErrorKind::StorageFull => "磁盘空间已满",
        ErrorKind::QuotaExceeded => "超出磁盘配额",
        ErrorKind::FileTooLarge => "文件过大",
        ErrorKind::InvalidData => "内容不是有效的 UTF-8 文本或格式不对",
        ErrorKind::InvalidInput | ErrorKind::InvalidFilename => "路径或参数无效",
        ErrorKind::UnexpectedEof => "内容意外结束",
        ErrorKind::ConnectionRefused => "连接被拒绝",
        ErrorKind::ConnectionReset => "连接被重置",
        ErrorKind::ConnectionAborted => "连接被中断",
        ErrorKind::NotConnected => "未连接",
        ErrorKind::AddrInUse => "地址已被占用",
        ErrorKind::AddrNotAvailable => "地址不可用",
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "网络不可达",
        ErrorKind::NetworkDown => "网络已断开",
        ErrorKind::BrokenPipe => "管道已关闭",
        ErrorKind::TimedOut => "操作超时",
        ErrorKind::Interrupted => "操作被中断",
        ErrorKind::WouldBlock | ErrorKind::ResourceBusy => "资源忙",
        ErrorKind::ExecutableFileBusy => "文件正在被执行",
        ErrorKind::Deadlock => "检测到死锁",
        ErrorKind::CrossesDevices => "不能跨设备移动",
        ErrorKind::TooManyLinks => "链接过多",
        ErrorKind::StaleNetworkFileHandle => "网络文件句柄已失效",
        ErrorKind::Unsupported => "不支持此操作",
        ErrorKind::OutOfMemory => "内存不足",
        _ => match err.raw_os_error() {
            Some(24) => "打开的文件过多",
            _ => "系统错误",
        },
    };
    match err.raw_os_error() {
        Some(code) => format!("{what}（系统错误 {code}）"),
        None => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_in_chinese() {
        let cases = [
            (
                Error::from_raw_os_error(2),
                "文件或目录不存在（系统错误 2）",
            ),
            (Error::from_raw_os_error(13), "没有权限（系统错误 13）"),
            (
                Error::from_raw_os_error(24),
                "打开的文件过多（系统错误 24）",
            ),
            (Error::new(ErrorKind::TimedOut, "late"), "操作超时"),
        ];
        for (err, text) in cases {
            assert_eq!(describe(&err), text, "{err}");
        }
    }
}
