// Kernels: see Package.swift
