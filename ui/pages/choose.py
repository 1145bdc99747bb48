"""Page 1: which ceremony, and rehearsal or real."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QButtonGroup, QGroupBox, QLabel, QRadioButton, QVBoxLayout, QWidget

from ceremony.flow.wizard import Choices, Page
from ui.pages.base import WizardPage
from ui.widgets.text import label, named

if TYPE_CHECKING:
    from ui.shell import Shell

UNAVAILABLE = "available when its ceremony lands"


def _indented(text: str) -> QLabel:
    w = label(text)
    w.setIndent(24)
    return w


class ChoosePage(WizardPage):
    def __init__(self, shell: Shell, page: Page):
        super().__init__(shell, page)
        data = shell.data
        box = QGroupBox("Ceremony")
        v = QVBoxLayout(box)
        self.kinds = QButtonGroup(self)
        self.kind_buttons: dict[str, QRadioButton] = {}
        for plan in shell.plans.values():
            usable = shell.supports(plan)
            text = plan.title if usable else f"{plan.title} ({UNAVAILABLE})"
            b = named(QRadioButton(text), f"Ceremony: {plan.title}", plan.description)
            b.setEnabled(usable)
            b.setChecked(plan.kind == data.kind)
            b.toggled.connect(self.notify)
            self.kinds.addButton(b)
            self.kind_buttons[plan.kind] = b
            v.addWidget(b)
            v.addWidget(_indented(plan.description))
        self.layout_.addWidget(box)

        mode = QGroupBox("Mode")
        m = QVBoxLayout(mode)
        self.modes = QButtonGroup(self)
        self.rehearsal = named(QRadioButton("&Rehearsal"), "Mode: rehearsal")
        m.addWidget(self.rehearsal)
        m.addWidget(
            _indented(
                "A SoftHSM2 token inside the bundle's rehearsal/ folder. Every page and document "
                "is marked REHEARSAL; shares and PINs are kept in rehearsal/ so the bundle can be "
                "replayed. The ceremony file is the same one the real ceremony uses."
            )
        )
        self.real = named(QRadioButton("Real &ceremony"), "Mode: real ceremony")
        m.addWidget(self.real)
        m.addWidget(
            _indented(
                "On the air-gapped ceremony machine with the production HSM and the reviewed "
                "ceremony file. Refuses to start while a network interface is up. Nothing secret "
                "is written anywhere."
            )
        )
        self.modes.addButton(self.rehearsal)
        self.modes.addButton(self.real)
        (self.rehearsal if data.rehearsal else self.real).setChecked(True)
        self.rehearsal.toggled.connect(self._mode_changed)
        self.layout_.addWidget(mode)
        self.layout_.addStretch(1)

    def _mode_changed(self) -> None:
        self.shell.show_banner(self.rehearsal.isChecked())
        self.changed.emit()

    def title(self) -> str:
        return "Choose the ceremony"

    def subtitle(self) -> str:
        return (
            "The wizard walks the room through the ceremony script step by step and records "
            "every step in the bundle's hash-chained event log. The witness can record an "
            "exception on any page."
        )

    def enter(self) -> None:
        self.shell.show_banner(self.rehearsal.isChecked())

    def selected_kind(self) -> str | None:
        for kind, b in self.kind_buttons.items():
            if b.isChecked():
                return kind
        return None

    def is_complete(self) -> bool:
        return self.selected_kind() is not None

    def apply(self, data: Choices) -> Choices:
        kind = self.selected_kind() or data.kind
        return Choices(
            kind=kind,
            rehearsal=self.rehearsal.isChecked(),
            bundle=data.bundle,
            module_path=data.module_path,
        )

    def first_focus(self) -> QWidget | None:
        return self.kind_buttons.get(self.selected_kind() or "")
