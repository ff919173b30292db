// Attention: see Package.swift
