; Inno Setup script: the Windows installer for Tray Agent, made from the one-folder build
; of packaging/pyinstaller/tray-agent-windows.spec (dist\tray-agent\).
;   iscc /DAppVersion=0.1.0 packaging\windows\tray-agent.iss
;
; UNTESTED: no Windows machine has compiled this yet. It installs per user (no admin
; rights), adds the Start-menu shortcut, and offers autostart at log-in (off by default).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6F1C2E0B-7B8E-4C1D-9A51-2B7A8E4D3C10}
AppName=Tray Agent
AppVersion={#AppVersion}
AppPublisher=Tray Agent
DefaultDirName={localappdata}\Programs\Tray Agent
DefaultGroupName=Tray Agent
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=tray-agent-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\Tray Agent.exe
CloseApplications=yes

[Tasks]
Name: "autostart"; Description: "Start Tray Agent when I sign in"; GroupDescription: "Start-up:"; Flags: unchecked

[Files]
Source: "..\..\dist\tray-agent\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Tray Agent"; Filename: "{app}\Tray Agent.exe"; WorkingDir: "{app}"
Name: "{userstartup}\Tray Agent"; Filename: "{app}\Tray Agent.exe"; WorkingDir: "{app}"; Tasks: autostart

[Run]
Filename: "{app}\Tray Agent.exe"; Description: "Start Tray Agent now"; Flags: nowait postinstall skipifsilent

[UninstallRun]
; The running daemon would hold its files open; `tray-agent quit` is not there yet, so stop it.
Filename: "{sys}\taskkill.exe"; Parameters: "/F /IM ""Tray Agent.exe"""; Flags: runhidden; RunOnceId: "StopTrayAgent"
