"""A pen that draws polygons given in a fixed design frame onto a posed, supersampled canvas."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

DESIGN_SIZE = 128.0  # shapes are specified on a 128x128 design grid, whatever the output size

Color = tuple[int, ...]


def ellipse_points(cx: float, cy: float, rx: float, ry: float, n: int = 32,
                   start: float = 0.0, stop: float = 2 * math.pi, power: float = 2.0) -> np.ndarray:
    """Points of a superellipse arc; power 2 is an ellipse, larger powers are squarer. [n, 2]"""
    t = np.linspace(start, stop, n, endpoint=(stop - start) < 2 * math.pi - 1e-9)
    c, s = np.cos(t), np.sin(t)
    e = 2.0 / power
    x = cx + rx * np.sign(c) * np.abs(c) ** e
    y = cy + ry * np.sign(s) * np.abs(s) ** e
    return np.stack([x, y], axis=1)


def pose_matrix(canvas: int, rotation_deg: float, scale: float, shift: tuple[float, float],
                center: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Affine (A, b) taking design points p to canvas pixels A @ p + b."""
    k = canvas / DESIGN_SIZE
    a = math.radians(rotation_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
    c = np.asarray(center)
    A = k * rot
    b = k * (c - rot @ c + np.asarray(shift))
    return A, b


class Pen:
    """Draws shapes given in design coordinates, mapped through a pose onto an RGB canvas."""

    def __init__(self, image: Image.Image, A: np.ndarray, b: np.ndarray):
        self.draw = ImageDraw.Draw(image, "RGBA")  # RGBA mode: 4-tuple fills blend
        self.A, self.b = A, b
        self.px = float(math.sqrt(abs(np.linalg.det(A))))  # canvas pixels per design unit

    def _map(self, pts: np.ndarray) -> list[tuple[float, float]]:
        out = pts @ self.A.T + self.b  # [N, 2]
        return [tuple(p) for p in out.tolist()]

    def polygon(self, pts: np.ndarray, fill: Color) -> None:
        self.draw.polygon(self._map(pts), fill=fill)

    def line(self, pts: np.ndarray, fill: Color, width: float) -> None:
        w = max(1, round(width * self.px))
        self.draw.line(self._map(pts), fill=fill, width=w, joint="curve")

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: Color,
                n: int = 32, power: float = 2.0) -> None:
        self.polygon(ellipse_points(cx, cy, rx, ry, n, power=power), fill)

    def outline(self, pts: np.ndarray, fill: Color, width: float) -> None:
        """A closed outline through `pts`."""
        self.line(np.concatenate([pts, pts[:1]]), fill, width)
